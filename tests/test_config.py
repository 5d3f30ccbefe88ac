"""Model configs rebuild chainrule's (or registered) modules and chainrule's own functions, and
nothing else: configs that try to reach other code get a clear ValueError."""
import json

import pytest

from chainrule import nn
from chainrule.nn import functional as F
from chainrule.nn.config import module_from_config, module_to_config, register_module


@register_module
class TakesFn(nn.Module):
    def __init__(self, fn=None, block=None):
        super().__init__()
        self.fn, self.block = fn, block


def cfg(**args):
    return {"class": f"{TakesFn.__module__}:TakesFn", "args": args}


def test_chainrule_function_and_class_roundtrip():
    m = TakesFn(fn=F.relu, block=nn.Linear)
    c = json.loads(json.dumps(module_to_config(m)))
    assert c["args"]["fn"] == {"__function__": f"{F.relu.__module__}:{F.relu.__qualname__}"}
    m2 = module_from_config(c)
    assert m2.fn is F.relu and m2.block is nn.Linear


@pytest.mark.parametrize("body, message", [
    ("chainrule.checkpoint:os.replace", "walks through <module 'os'"),          # attribute walk out of chainrule
    ("chainrule.checkpoint:np.load", "walks through <module 'numpy'"),
    ("chainrule.checkpoint:os", "is a module, not a function"),
    ("chainrule.nn.functional:relu.__globals__", "'__globals__' is not a name a config may use"),
    ("chainrule.nn.module:Module.__init__", "'__init__' is not a name"),
    ("chainrule.nn.functional:__builtins__", "'__builtins__' is not a name"),
    ("chainrule.checkpoint:CheckpointError", "is a type, not a function"),
    ("chainrule.rng:_generator", "is a Generator, not a function"),
    ("os:system", "only come from chainrule's own modules, and chainrule has no module 'os'"),  # not chainrule
    ("subprocess:run", "only come from chainrule's own modules"),
    ("chainrule_evil:f", "chainrule has no module 'chainrule_evil'"),
    ("chainrule.__main__:main", "only come from chainrule's own modules"),
    ("chainrule.no_such_module:f", "chainrule has no module 'chainrule.no_such_module'"),
    ("chainrule.checkpoint:no_such_function", "does not exist in chainrule"),
    ("chainrule.nn.functional:relu", "is defined as 'chainrule.ops"),                # re-exports are not walked
    ("chainrule.checkpoint", "must look like 'chainrule.module:name'"),
    (["os", "system"], "must look like"),
])
def test_function_configs_that_reach_elsewhere_are_refused(body, message):
    with pytest.raises(ValueError, match=message):
        module_from_config(cfg(fn={"__function__": body}))


@pytest.mark.parametrize("key, message", [
    ("chainrule.checkpoint:CheckpointError", "unknown module class"),     # a class, but not a registered Module
    ("chainrule.nn.module:Module.__subclasses__", "unknown module class"),
    ("os:PathLike", "unknown module class 'os:PathLike'"),
    ("builtins:object", "unknown module class"),
    ("chainrule.no_such_module:Bogus", "unknown module class 'chainrule.no_such_module:Bogus'"),
    ("chainrule.nn.linear", "must look like 'package.module:ClassName'"),
])
def test_class_configs_that_are_not_registered_modules_are_refused(key, message):
    with pytest.raises(ValueError, match=message):
        module_from_config(cfg(block={"__class__": key}))
    with pytest.raises(ValueError, match=message):
        module_from_config({"class": key, "args": {}})


def test_a_class_whose_module_moved_is_still_found():
    m = module_from_config({"class": "chainrule.no_longer_here:Linear", "args": {"in_features": 2, "out_features": 3}})
    assert isinstance(m, nn.Linear) and m.weight.shape == (3, 2)


def test_encode_refuses_what_decode_would_refuse():
    import os
    with pytest.raises(ValueError, match="cannot be stored"):
        module_to_config(TakesFn(fn=os.replace))
    with pytest.raises(ValueError, match="cannot be stored"):
        module_to_config(TakesFn(fn=lambda x: x))
    with pytest.raises(ValueError, match="cannot be stored"):
        module_to_config(TakesFn(fn=json.dumps))
