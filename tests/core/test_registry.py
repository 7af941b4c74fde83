import pytest

from core.errors import RegistryError
from core.registry import Registry


def test_unknown_name_suggests_the_closest_one():
    registry = Registry("source type")
    registry.register("file_tail", object())
    registry.register("syslog", object())
    with pytest.raises(RegistryError, match=r"unknown source type 'file_tial'; did you mean 'file_tail'\?"):
        registry.get("file_tial")


def test_duplicate_registration_fails_loudly():
    registry = Registry("parser")
    registry.register("nginx", 1)
    with pytest.raises(RegistryError, match="registered twice"):
        registry.register("nginx", 2)
    assert registry.get("nginx") == 1
    assert list(registry) == ["nginx"]
