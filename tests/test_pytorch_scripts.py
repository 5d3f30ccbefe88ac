"""PyTorch scripts run on chainrule: scenarios that use the API surface of the official beginner
tutorials (pytorch/tutorials beginner_source/basics and blitz), written here from scratch.

Each scenario is ONE function taking the library as an argument (`lib` is chainrule or torch)
and using only names both share, so the same source runs on both. On chainrule it checks its
own results; where torch is installed it runs again on torch from the same initial weights and
data, and the losses and values must agree. The data are synthetic stand-ins for the tutorials'
torchvision downloads (FashionMNIST's 1x28x28 images, CIFAR-10's 3x32x32), batched by slicing.
"""
from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

RTOL = 2e-5  # float32 training: the two libraries sum in different orders


# ------------------------------------------------------------------ helpers
def _torch():
    return pytest.importorskip("torch")


def _same_weights(model, weights, lib):
    """Record the model's initial weights (first run) or load the recorded ones (second run)."""
    if weights is None:
        return {k: np.array(np.asarray(v)) for k, v in model.state_dict().items()}
    model.load_state_dict({k: lib.tensor(v) for k, v in weights.items()})
    return weights


def _images(n, shape, classes, seed):
    """Class-dependent synthetic images (each class brightens its own band of rows) and labels."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    x = rng.random((n, *shape)).astype(np.float32) * 0.5
    rows = shape[1] // classes
    for i, c in enumerate(y):
        x[i, :, c * rows:(c + 1) * rows] += 0.5
    return x, y.astype(np.int64)


def _batches(x, y, size, lib):
    for i in range(0, len(x), size):
        yield lib.tensor(x[i:i + size]), lib.tensor(y[i:i + size])


def _both(scenario, *args):
    """Run on chainrule, then (if installed) on torch from the same weights; return both results."""
    cr.manual_seed(0)  # the same initial weights whatever ran before
    ours = scenario(cr, None, *args)
    try:
        import torch
    except ImportError:
        return ours, None
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the test machine is shared; one thread is also the fastest here
    try:
        return ours, scenario(torch, ours["weights"], *args)
    finally:
        torch.set_num_threads(threads)


def _close(a, b, rtol=RTOL, atol=1e-6):
    np.testing.assert_allclose(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64), rtol=rtol, atol=atol)


# ------------------------------------------------ basics/quickstart + optimization
def quickstart(lib, weights, tmp_path):
    nn = lib.nn
    device = lib.accelerator.current_accelerator().type if lib.accelerator.is_available() else "cpu"
    device = "cpu"  # the comparison runs on the CPU in both libraries

    class NeuralNetwork(nn.Module):
        def __init__(self):
            super().__init__()
            self.flatten = nn.Flatten()
            self.linear_relu_stack = nn.Sequential(
                nn.Linear(28 * 28, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))

        def forward(self, x):
            return self.linear_relu_stack(self.flatten(x))

    model = NeuralNetwork().to(device)
    weights = _same_weights(model, weights, lib)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = lib.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = _images(256, (1, 28, 28), 10, seed=0)
    xt, yt = _images(128, (1, 28, 28), 10, seed=1)

    def train():
        model.train()
        out = []
        for X, Y in _batches(x, y, 64, lib):
            X, Y = X.to(device), Y.to(device)
            loss = loss_fn(model(X), Y)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            out.append(loss.item())
        return out

    def test():
        model.eval()
        test_loss, correct, num_batches = 0, 0, 0
        with lib.no_grad():
            for X, Y in _batches(xt, yt, 64, lib):
                pred = model(X)
                test_loss += loss_fn(pred, Y).item()
                correct += (pred.argmax(1) == Y).float().sum().item()
                num_batches += 1
        return test_loss / num_batches, correct / len(xt)

    history = []
    for _ in range(3):
        history += train()
        history.append(test())
    lib.save(model.state_dict(), tmp_path / f"{lib.__name__}_model.pth")
    model2 = NeuralNetwork()
    model2.load_state_dict(lib.load(tmp_path / f"{lib.__name__}_model.pth", weights_only=True))
    model2.eval()
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot"]
    with lib.no_grad():
        pred = model2(lib.tensor(xt[:1]))
        predicted = classes[pred[0].argmax(0)]
        same = bool((model(lib.tensor(xt)) == model2(lib.tensor(xt))).all())
    return {"weights": weights, "history": history, "predicted": predicted, "same": same}


def test_quickstart_trains_saves_and_loads_like_torch(tmp_path):
    ours, theirs = _both(quickstart, tmp_path)
    losses = [h for h in ours["history"] if not isinstance(h, tuple)]
    tests = [h for h in ours["history"] if isinstance(h, tuple)]
    assert losses[-1] < losses[0] and tests[2][0] < tests[1][0] < tests[0][0]
    assert tests[-1][1] > 0.3  # chance: 0.1 (seeds 0-7 end at 0.45-0.70)
    assert ours["same"]  # the reloaded model computes what the trained one does
    if theirs is not None:
        for a, b in zip(ours["history"], theirs["history"]):
            _close(a, b, rtol=1e-4)
        assert ours["predicted"] == theirs["predicted"]


# ------------------------------------------------------------ basics/buildmodel
def buildmodel(lib, weights):
    nn = lib.nn
    model = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 32), nn.ReLU(), nn.Linear(32, 10))
    weights = _same_weights(model, weights, lib)
    X = lib.tensor(_images(3, (28, 28), 10, seed=2)[0])
    logits = model(X)
    pred_probab = nn.Softmax(dim=1)(logits)
    y_pred = pred_probab.argmax(1)
    params = [(name, tuple(param.size()), param[:2].detach().numpy().copy())
              for name, param in model.named_parameters()]
    flat = nn.Flatten()(X)
    layer1 = nn.Linear(in_features=28 * 28, out_features=20)
    return {"weights": weights, "probs": pred_probab.detach().numpy(), "y_pred": np.asarray(y_pred),
            "params": params, "flat": tuple(flat.size()), "layer1": tuple(layer1(flat).size()),
            "repr_has_layers": "Linear(in_features=784, out_features=32, bias=True)" in str(model)}


def test_buildmodel_matches_torch():
    ours, theirs = _both(buildmodel)
    assert ours["flat"] == (3, 784) and ours["layer1"] == (3, 20) and ours["repr_has_layers"]
    np.testing.assert_allclose(ours["probs"].sum(1), 1, rtol=1e-6)
    assert [p[0] for p in ours["params"]] == ["1.weight", "1.bias", "3.weight", "3.bias"]
    if theirs is not None:
        _close(ours["probs"], theirs["probs"])
        np.testing.assert_array_equal(ours["y_pred"], theirs["y_pred"])
        for (n1, s1, v1), (n2, s2, v2) in zip(ours["params"], theirs["params"]):
            assert (n1, s1) == (n2, s2)
            np.testing.assert_array_equal(v1, v2)
        assert ours["repr_has_layers"] == theirs["repr_has_layers"]


# ------------------------------------------------------------- basics/autogradqs
def autograd_basics(lib, weights):
    F = lib.nn.functional
    rng = np.random.default_rng(3)
    x = lib.ones(5)
    y = lib.zeros(3)
    w = lib.tensor(rng.standard_normal((5, 3)).astype(np.float32), requires_grad=True)
    b = lib.tensor(rng.standard_normal(3).astype(np.float32), requires_grad=True)
    z = lib.matmul(x, w) + b
    loss = F.binary_cross_entropy_with_logits(z, y)
    has_fn = z.grad_fn is not None and loss.grad_fn is not None
    loss.backward()
    flags = [z.requires_grad]
    with lib.no_grad():
        flags.append((lib.matmul(x, w) + b).requires_grad)
    flags.append(z.detach().requires_grad)
    return {"weights": None, "loss": loss.item(), "w_grad": w.grad.numpy().copy(),
            "b_grad": b.grad.numpy().copy(), "flags": flags, "has_fn": has_fn}


def test_autograd_basics_match_torch():
    ours, theirs = _both(autograd_basics)
    assert ours["flags"] == [True, False, False] and ours["has_fn"]
    assert isinstance(cr.ones(1).requires_grad_().sum().grad_fn, object)
    if theirs is not None:
        _close(ours["loss"], theirs["loss"])
        _close(ours["w_grad"], theirs["w_grad"])
        _close(ours["b_grad"], theirs["b_grad"])
        assert ours["flags"] == theirs["flags"]


# ------------------------------------------------------ blitz/neural_networks
def lenet_by_hand(lib, weights):
    nn, F = lib.nn, lib.nn.functional

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 6, 5)
            self.conv2 = nn.Conv2d(6, 16, 5)
            self.fc1 = nn.Linear(16 * 5 * 5, 120)
            self.fc2 = nn.Linear(120, 84)
            self.fc3 = nn.Linear(84, 10)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv1(x)), (2, 2))
            x = F.max_pool2d(F.relu(self.conv2(x)), 2)
            x = lib.flatten(x, 1)
            x = F.relu(self.fc1(x))
            x = F.relu(self.fc2(x))
            return self.fc3(x)

    net = Net()
    weights = _same_weights(net, weights, lib)
    params = list(net.parameters())
    rng = np.random.default_rng(4)
    inp = lib.tensor(rng.standard_normal((1, 1, 32, 32)).astype(np.float32))
    target = lib.tensor(rng.standard_normal(10).astype(np.float32)).view(1, -1)
    criterion = nn.MSELoss()

    net.zero_grad()
    loss = criterion(net(inp), target)
    loss.backward()
    bias_grad = net.conv1.bias.grad.numpy().copy()
    learning_rate = 0.01
    for f in net.parameters():  # the tutorial's update by hand, in the form both libraries accept
        f.data -= f.grad.data * learning_rate

    optimizer = lib.optim.SGD(net.parameters(), lr=0.01)
    losses = [loss.item()]
    for _ in range(3):
        optimizer.zero_grad()
        loss = criterion(net(inp), target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return {"weights": weights, "n_params": len(params), "size0": tuple(params[0].size()),
            "bias_grad": bias_grad, "losses": losses, "fc3": net.fc3.weight.detach().numpy().copy()}


def test_lenet_by_hand_matches_torch():
    ours, theirs = _both(lenet_by_hand)
    assert ours["n_params"] == 10 and ours["size0"] == (6, 1, 5, 5)
    assert ours["losses"][-1] < ours["losses"][0]
    if theirs is not None:
        _close(ours["bias_grad"], theirs["bias_grad"], rtol=1e-4, atol=1e-7)
        _close(ours["losses"], theirs["losses"])
        _close(ours["fc3"], theirs["fc3"], rtol=1e-4)


# ----------------------------------------------------------- blitz/cifar10
def cifar_classifier(lib, weights, tmp_path):
    nn, F = lib.nn, lib.nn.functional
    device = lib.device("cuda:0" if lib.cuda.is_available() else "cpu")
    device = lib.device("cpu")

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 6, 5)
            self.pool = nn.MaxPool2d(2, 2)
            self.conv2 = nn.Conv2d(6, 16, 5)
            self.fc1 = nn.Linear(16 * 5 * 5, 120)
            self.fc2 = nn.Linear(120, 84)
            self.fc3 = nn.Linear(84, 10)

        def forward(self, x):
            x = self.pool(F.relu(self.conv1(x)))
            x = self.pool(F.relu(self.conv2(x)))
            x = lib.flatten(x, 1)
            x = F.relu(self.fc1(x))
            x = F.relu(self.fc2(x))
            return self.fc3(x)

    net = Net()
    net.to(device)
    weights = _same_weights(net, weights, lib)
    criterion = nn.CrossEntropyLoss()
    optimizer = lib.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    x, y = _images(48, (3, 32, 32), 10, seed=5)
    running = []
    for epoch in range(2):
        running_loss = 0.0
        for i, (inputs, labels) in enumerate(_batches(x, y, 4, lib)):
            inputs, labels = inputs.to(device), labels.to(device)
            optimizer.zero_grad()
            loss = criterion(net(inputs), labels)
            loss.backward()
            optimizer.step()
            running_loss += loss.item()
            if i % 4 == 3:
                running.append(running_loss / 4)
                running_loss = 0.0
    PATH = tmp_path / f"{lib.__name__}_cifar_net.pth"
    lib.save(net.state_dict(), PATH)
    net = Net()
    net.load_state_dict(lib.load(PATH, weights_only=True))
    correct, total = 0, 0
    with lib.no_grad():
        for images, labels in _batches(x, y, 16, lib):
            outputs = net(images)
            predicted = outputs.argmax(1)
            total += labels.size(0)
            correct += (predicted == labels).sum().item()
    return {"weights": weights, "running": running, "accuracy": correct / total}


def test_cifar_classifier_matches_torch(tmp_path):
    ours, theirs = _both(cifar_classifier, tmp_path)
    assert len(ours["running"]) == 6 and all(np.isfinite(ours["running"]))
    if theirs is not None:
        _close(ours["running"], theirs["running"], rtol=1e-4)
        assert ours["accuracy"] == theirs["accuracy"]


# ------------------------------------------- a general checkpoint (save, resume)
def resume_from_checkpoint(lib, weights, tmp_path):
    nn = lib.nn

    def build():
        model = nn.Sequential(nn.Conv2d(1, 4, 3, padding="same"), nn.BatchNorm2d(4), nn.ReLU(),
                              nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.0), nn.Linear(4 * 4 * 4, 3))
        opt = lib.optim.Adadelta(model.parameters(), lr=1.0, weight_decay=1e-3)
        sched = lib.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)
        return model, opt, sched

    model, optimizer, scheduler = build()
    weights = _same_weights(model, weights, lib)
    x, y = _images(32, (1, 8, 8), 3, seed=6)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)

    def epoch(model, optimizer, scheduler):
        model.train()
        losses = []
        for X, Y in _batches(x, y, 8, lib):
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(X), Y)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        scheduler.step()
        return losses, loss

    losses, loss = epoch(model, optimizer, scheduler)
    path = tmp_path / f"{lib.__name__}_ckpt.pt"
    lib.save({"epoch": 1, "model_state_dict": model.state_dict(), "optimizer_state_dict": optimizer.state_dict(),
              "scheduler": scheduler.state_dict(), "loss": loss}, path)
    model2, optimizer2, scheduler2 = build()
    checkpoint = lib.load(path, map_location="cpu", weights_only=True)
    model2.load_state_dict(checkpoint["model_state_dict"])
    optimizer2.load_state_dict(checkpoint["optimizer_state_dict"])
    scheduler2.load_state_dict(checkpoint["scheduler"])
    resumed, _ = epoch(model2, optimizer2, scheduler2)
    straight, _ = epoch(model, optimizer, scheduler)
    return {"weights": weights, "losses": losses + resumed, "straight": straight,
            "epoch": checkpoint["epoch"], "loss": checkpoint["loss"].item()}


def test_checkpoint_resume_matches_torch(tmp_path):
    ours, theirs = _both(resume_from_checkpoint, tmp_path)
    assert ours["losses"][4:] == ours["straight"]  # resuming changes nothing, to the bit
    assert ours["epoch"] == 1 and ours["loss"] == ours["losses"][3]
    if theirs is not None:
        _close(ours["losses"], theirs["losses"], rtol=1e-4)


# ---------------------------------------------------- device checks at the top
def device_checks(lib, weights):
    checks = {
        "accelerator": lib.accelerator.is_available(),
        "current": (lib.accelerator.current_accelerator().type if lib.accelerator.is_available() else "cpu"),
        "mps": lib.backends.mps.is_available(),
        "cuda": lib.cuda.is_available(),
        "device": str(lib.device("cpu")),
        "device_of_device": str(lib.device(lib.device("cpu"))),
    }
    lib.backends.cudnn.benchmark = True
    lib.backends.cudnn.deterministic = True
    checks["flags"] = (lib.backends.cudnn.benchmark, lib.backends.cudnn.deterministic)
    lib.backends.cudnn.benchmark = False
    lib.backends.cudnn.deterministic = False
    return {"weights": None, **checks}


def test_device_checks_answer_like_torch_on_a_cpu_machine():
    ours, theirs = _both(device_checks)
    gpu = cr.cuda.is_available()
    assert ours["accelerator"] is gpu and ours["cuda"] is gpu and ours["mps"] is False
    assert ours["current"] == ("cuda" if gpu else "cpu")
    assert ours["device"] == ours["device_of_device"] == "cpu" and ours["flags"] == (True, True)
    if theirs is not None and not gpu and not theirs["accelerator"]:
        assert {k: v for k, v in ours.items() if k != "weights"} == {k: v for k, v in theirs.items() if k != "weights"}


# -------------------------------------- blitz/autograd: freeze the body, train a new head
def finetune_head(lib, weights):
    nn = lib.nn
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(),
                          nn.Linear(8, 5))
    for param in model.parameters():
        param.requires_grad = False
    model[4] = nn.Linear(8, 4)  # a new classifier: its parameters require grad
    weights = _same_weights(model, weights, lib)
    body = [p.detach().numpy().copy() for p in model[0].parameters()]
    optimizer = lib.optim.SGD(model.parameters(), lr=1e-1, momentum=0.9)
    x, y = _images(16, (3, 8, 8), 4, seed=7)
    losses = []
    for X, Y in _batches(x, y, 8, lib):
        optimizer.zero_grad()
        loss = nn.CrossEntropyLoss()(model(X), Y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    frozen = all(p.grad is None and np.array_equal(p.detach().numpy(), b)
                 for p, b in zip(model[0].parameters(), body))
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    return {"weights": weights, "losses": losses, "frozen": frozen, "trainable": trainable,
            "head": model[4].weight.detach().numpy().copy()}


def test_finetune_head_matches_torch():
    ours, theirs = _both(finetune_head)
    assert ours["frozen"] and ours["trainable"] == ["4.weight", "4.bias"]
    if theirs is not None:
        assert theirs["frozen"] and theirs["trainable"] == ours["trainable"]
        _close(ours["losses"], theirs["losses"])
        _close(ours["head"], theirs["head"])


# ------------------------------------------------------------ basics/saveloadrun
def save_load_run(lib, weights, tmp_path):
    nn = lib.nn
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(4 * 4 * 4, 10))
    weights = _same_weights(model, weights, lib)
    path = tmp_path / f"{lib.__name__}_model_weights.pth"
    lib.save(model.state_dict(), path)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(4 * 4 * 4, 10))
    model.load_state_dict(lib.load(path, weights_only=True))
    model.eval()
    whole = tmp_path / f"{lib.__name__}_model.pth"
    lib.save(model, whole)  # chainrule's Sequential is registered: the architecture is saved as a config
    model = lib.load(whole, weights_only=False)
    x = np.random.default_rng(8).random((2, 3, 8, 8)).astype(np.float32)
    with lib.no_grad():
        out = model(lib.tensor(x)).numpy().copy()
    return {"weights": weights, "out": out, "model": model, "x": x}


def test_save_load_run_and_onnx_match_torch(tmp_path):
    ours, theirs = _both(save_load_run, tmp_path)
    if theirs is not None:
        _close(ours["out"], theirs["out"])
    ort = pytest.importorskip("onnxruntime")
    import chainrule.onnx as onnx  # the tutorial's `import torch.onnx as onnx`

    input_image = cr.zeros((1, 3, 8, 8))
    onnx.export(ours["model"], input_image, str(tmp_path / "model.onnx"))
    sess = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: ours["x"]})[0]
    _close(got, ours["out"], rtol=1e-5)


# ------------------------------- the classic MNIST example: log_softmax + nll_loss + Adadelta + StepLR
def mnist_example(lib, weights, p_drop):
    nn, F = lib.nn, lib.nn.functional

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 8, 3, 1)
            self.conv2 = nn.Conv2d(8, 16, 3, 1)
            self.dropout1 = nn.Dropout(p_drop)
            self.dropout2 = nn.Dropout2d(p_drop)
            self.fc1 = nn.Linear(16 * 6 * 6, 32)
            self.fc2 = nn.Linear(32, 10)

        def forward(self, x):
            x = F.relu(self.conv1(x))
            x = F.relu(self.conv2(x))
            x = self.dropout2(F.max_pool2d(x, 2))
            x = lib.flatten(x, 1)
            x = self.dropout1(F.relu(self.fc1(x)))
            return F.log_softmax(self.fc2(x), dim=1)

    model = Net()
    weights = _same_weights(model, weights, lib)
    optimizer = lib.optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = lib.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    x, y = _images(64, (1, 16, 16), 10, seed=9)
    train_losses, test_losses, accuracy = [], [], []
    for epoch in range(1, 4):
        model.train()
        for data, target in _batches(x, y, 16, lib):
            optimizer.zero_grad()
            loss = F.nll_loss(model(data), target)
            loss.backward()
            optimizer.step()
            train_losses.append(loss.item())
        model.eval()
        test_loss, correct = 0, 0
        with lib.no_grad():
            for data, target in _batches(x, y, 32, lib):
                output = model(data)
                test_loss += F.nll_loss(output, target, reduction="sum").item()
                pred = output.argmax(dim=1, keepdim=True)
                correct += (pred == target.reshape(-1, 1)).sum().item()
        test_losses.append(test_loss / len(x))
        accuracy.append(correct / len(x))
        scheduler.step()
    return {"weights": weights, "train": train_losses, "test": test_losses, "accuracy": accuracy,
            "lr": optimizer.param_groups[0]["lr"]}


def test_mnist_example_matches_torch():
    ours, theirs = _both(mnist_example, 0.0)  # no dropout: the two libraries draw different masks
    assert ours["test"][-1] < ours["test"][0] and ours["lr"] == pytest.approx(0.7 ** 3)
    if theirs is not None:
        _close(ours["train"], theirs["train"], rtol=1e-4)
        _close(ours["test"], theirs["test"], rtol=1e-4)
        assert ours["accuracy"] == theirs["accuracy"]
    cr.manual_seed(0)
    dropped = mnist_example(cr, None, 0.25)  # with dropout it still learns
    assert dropped["test"][-1] < dropped["test"][0]


# ------------------------- basics/data + optimization: a Dataset class, DataLoaders, train/test loops
def dataset_and_loops(lib, weights):
    nn = lib.nn
    Dataset, DataLoader, TensorDataset = lib.utils.data.Dataset, lib.utils.data.DataLoader, lib.utils.data.TensorDataset

    class SyntheticImages(Dataset):
        def __init__(self, n, seed, transform=None):
            self.images, self.labels = _images(n, (1, 12, 12), 4, seed)
            self.transform = transform

        def __len__(self):
            return len(self.labels)

        def __getitem__(self, idx):
            image = self.images[idx]
            if self.transform:
                image = self.transform(image)
            return image, int(self.labels[idx])

    training_data = SyntheticImages(96, seed=10, transform=lambda a: (a - 0.5) / 0.5)
    xt, yt = _images(40, (1, 12, 12), 4, seed=11)
    test_data = TensorDataset(lib.tensor((xt - 0.5) / 0.5), lib.tensor(yt))
    train_dataloader = DataLoader(training_data, batch_size=32)
    test_dataloader = DataLoader(test_data, batch_size=16)

    model = nn.Sequential(nn.Flatten(), nn.Linear(144, 32), nn.ReLU(), nn.Linear(32, 4))
    weights = _same_weights(model, weights, lib)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = lib.optim.Adam(model.parameters(), lr=1e-2)

    def train_loop(dataloader, model, loss_fn, optimizer):
        size = len(dataloader.dataset)
        model.train()
        seen = []
        for batch, (X, y) in enumerate(dataloader):
            loss = loss_fn(model(X), y)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            seen.append((loss.item(), (batch + 1) * len(X), size))
        return seen

    def test_loop(dataloader, model, loss_fn):
        model.eval()
        size, num_batches = len(dataloader.dataset), len(dataloader)
        test_loss, correct = 0, 0
        with lib.no_grad():
            for X, y in dataloader:
                pred = model(X)
                test_loss += loss_fn(pred, y).item()
                correct += (pred.argmax(1) == y).float().sum().item()
        return test_loss / num_batches, correct / size

    log = []
    for t in range(3):
        log += train_loop(train_dataloader, model, loss_fn, optimizer)
        log.append(test_loop(test_dataloader, model, loss_fn))
    return {"weights": weights, "log": log, "batches": (len(train_dataloader), len(test_dataloader))}


def test_dataset_and_loops_match_torch():
    ours, theirs = _both(dataset_and_loops)
    assert ours["batches"] == (3, 3)
    assert [entry[1:] for entry in ours["log"][:3]] == [(32, 96), (64, 96), (96, 96)]
    assert ours["log"][-1][0] < ours["log"][3][0]  # the test loss falls
    if theirs is not None:
        for a, b in zip(ours["log"], theirs["log"]):
            _close(a, b, rtol=1e-4)
        assert ours["batches"] == theirs["batches"]
