"""The model zoo: small nets for the assignments, CIFAR-style VGG and ResNets,
and torchvision's ImageNet architectures with torchvision's parameter names.

    import chainrule as cr
    net = cr.models.get("resnet20", num_classes=10)   # or cr.models.resnet20()
    cr.models.list_models()
    cr.summary(cr.models.vgg16(), (3, 224, 224))       # the lecture's VGG-16 table
    cr.models.receptive_field(net, (3, 32, 32))
"""
from .registry import build_for, get, get_builder, list_models, register_model  # noqa: F401
from ._init import skip_init  # noqa: F401
from .small import fc_net, small_cnn, three_layer_convnet, two_layer_net  # noqa: F401
from .vgg_cifar import vgg_cifar  # noqa: F401
from .resnet_cifar import ResNetCifar, resnet20, resnet56, resnet_cifar  # noqa: F401
from .alexnet import AlexNet, alexnet  # noqa: F401
from .alexnet import AlexNetOriginal, alexnet_original  # noqa: F401
from .lenet import lenet5  # noqa: F401
from .vgg import VGG, vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg19, vgg19_bn  # noqa: F401
from .vgg import vgg11_lrn, vgg16_c  # noqa: F401
from .googlenet import GoogLeNet, googlenet  # noqa: F401
from .inception import Factorized, Inception3, InceptionOutputs, inception_v3  # noqa: F401
from .nin import nin  # noqa: F401
from .maxout import GroupMax  # noqa: F401
from .resnet import ResNet, resnet18, resnet34, resnet50, resnet101, resnet152  # noqa: F401
from .summary import Summary, summary  # noqa: F401
from .ensemble import Ensemble, average_probabilities, mc_dropout_predict  # noqa: F401
from .receptive_field import ReceptiveField, receptive_field  # noqa: F401
from .pretrained import LoadReport, find_classifier, load_pretrained, reset_classifier  # noqa: F401
