"""`get_config` / `from_config` for `kzoo.data`'s serialisable objects."""

import inspect


class ConstructorConfig:
    """A config that is the constructor's arguments, written once.

    For a class that stores every `__init__` argument as an attribute of
    the same name: `get_config()` returns them, in signature order, and
    `from_config(config)` calls the constructor with them
    (`tests/test_serialization.py` checks every argument round-trips).
    """

    def get_config(self):
        parameters = inspect.signature(type(self).__init__).parameters
        return {name: getattr(self, name)
                for name, p in parameters.items()
                if name != "self" and p.kind not in (p.VAR_POSITIONAL,
                                                     p.VAR_KEYWORD)}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
