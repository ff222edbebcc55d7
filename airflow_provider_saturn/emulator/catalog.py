"""Fixed data the emulator serves: the server options, the owner, the image tag. Shaped like the 2026.02.01 spec."""

from __future__ import annotations

from typing import Any

API_VERSION = "2026.02.01"
CREATED_AT = "2026-02-01T00:00:00+00:00"
ORG_ID = "0" * 31 + "1"
OWNER_ID = "0" * 31 + "2"
DEFAULT_IMAGE_URI = "public.ecr.aws/saturncloud/saturn-python:2026.02.01"

AUTO_SHUTOFF = ["1 hour", "6 hours", "24 hours", "3 days", "7 days", "Never"]
DISK_SPACE = ["10Gi", "50Gi", "100Gi", "250Gi", "500Gi"]


def _size(
    name: str, cores: int, memory: str, price: float, gpu: int = 0, gpu_type: str | None = None
) -> dict[str, Any]:
    hardware = "NVIDIA" if gpu else "CPU"
    display = f"{name} - {cores} cores - {memory}" + (f" - {gpu} {gpu_type} GPU" if gpu else "")
    return {
        "name": name,
        "cores": cores,
        "memory": memory,
        "gpu": gpu,
        "gpu_type": gpu_type,
        "hardware_type": hardware,
        "cloud": "aws",
        "display": display,
        "display_name": name.replace("-", " ").title(),
        "price_per_hour": price,
        "description": "",
        "disabled": False,
        "disabled_message": "",
    }


SIZES: dict[str, dict[str, Any]] = {
    size["name"]: size
    for size in (
        _size("medium", 2, "4 GiB", 0.1),
        _size("large", 2, "16 GiB", 0.17),
        _size("xlarge", 4, "32 GiB", 0.34),
        _size("2xlarge", 8, "64 GiB", 0.67),
        _size("8xlarge", 32, "256 GiB", 2.68),
        _size("g4dnxlarge", 4, "16 GiB", 0.79, gpu=1, gpu_type="T4"),
    )
}
DEFAULT_SIZE = "large"


def server_options() -> dict[str, Any]:
    """``ServerOptions``: sizes (one a GPU), disk spaces in the 2026 ``{value, display_str}`` form, auto-shutoffs."""
    return {
        "sizes": {name: dict(spec) for name, spec in SIZES.items()},
        "disk_space": [{"value": value, "display_str": value.replace("Gi", " GiB")} for value in DISK_SPACE],
        "auto_shutoff": list(AUTO_SHUTOFF),
    }


def owner() -> dict[str, Any]:
    return {
        "id": OWNER_ID,
        "name": "emulator/airflow",
        "identity_name": "airflow",
        "identity_type": "user",
        "org_name": "emulator",
        "created_at": CREATED_AT,
        "org_admin": True,
        "org_id": ORG_ID,
        "user_id": OWNER_ID,
        "group_id": None,
        "avatar_url": "",
    }


def image_tag(image_uri: str) -> dict[str, Any]:
    repository, _, version = image_uri.rpartition(":")
    repository = repository or image_uri
    return {
        "id": "0" * 31 + "3",
        "created_at": CREATED_AT,
        "image": {
            "id": "0" * 31 + "4",
            "name": repository.rsplit("/", 1)[-1],
            "owner": owner(),
            "description": "",
            "created_at": CREATED_AT,
            "hardware_type": "CPU",
            "supports": ["jupyter", "dask"],
            "access": "account",
            "is_base": False,
            "is_gpu": False,
            "trusted": True,
        },
        "image_uri": image_uri,
        "description": "",
        "version": version or "latest",
        "archived": False,
        "is_external": True,
        "status": "ready",
    }
