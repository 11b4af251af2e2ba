"""Golden adapter_config.json files and config error messages from the real PEFT.

Writes tests/golden/data/configs/:
  <name>.json    adapter_config.json exactly as PeftModel.save_pretrained writes it for a tiny model
  errors.json    for each invalid config: how it was built, the exception type and PEFT's message;
                 the Cayley-Neumann version warning; and PEP 440 "< 0.18.0" answers from packaging
  versions.json  python / torch / peft / transformers / packaging versions used

Run with the project's venv: .venv/bin/python tests/golden/gen_configs.py
"""

import json
import os
import platform
import shutil
import tempfile
import warnings

import packaging
import packaging.version
import peft
import torch
import transformers
from peft import OFTConfig, get_peft_model

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "configs")


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.q = torch.nn.Linear(8, 8)
        self.v = torch.nn.Linear(8, 8)
        self.mlp = torch.nn.Linear(8, 8)


class Tiny(torch.nn.Module):
    """Two ModuleLists ("layers" and "h") so layers_pattern has something to name."""

    def __init__(self):
        super().__init__()
        self.layers = torch.nn.ModuleList([Block(), Block()])
        self.h = torch.nn.ModuleList([Block(), Block()])
        self.head = torch.nn.Linear(8, 4)


# name -> OFTConfig kwargs. PEFT saves sets (target_modules, exclude_modules) in hash order.
CONFIGS = {
    "r_given": dict(r=2, oft_block_size=0, target_modules=["q", "v"]),
    "block_given": dict(oft_block_size=4, target_modules=["q", "v", "mlp"]),
    "regex_target": dict(oft_block_size=4, target_modules=r".*layers\.\d+\.(q|v)"),
    "all_linear": dict(oft_block_size=4, target_modules="all-linear"),
    "exclude_list": dict(
        oft_block_size=2, target_modules=["q", "mlp"], exclude_modules=["layers.0.mlp", "h.1.q"]
    ),
    "exclude_regex": dict(oft_block_size=2, target_modules=["v"], exclude_modules=r"h\..*"),
    "layers_int": dict(
        oft_block_size=4, target_modules=["q"], layers_to_transform=0, layers_pattern="layers"
    ),
    "layers_list": dict(
        oft_block_size=4,
        target_modules=["q", "v"],
        layers_to_transform=[0, 1],
        layers_pattern=["layers", "h"],
    ),
    "modules_to_save": dict(oft_block_size=4, target_modules=["q"], modules_to_save=["head"]),
    "coft_eps": dict(oft_block_size=4, target_modules=["v"], coft=True, eps=1e-3),
    "block_share": dict(oft_block_size=4, target_modules=["mlp"], block_share=True),
    "neumann_off": dict(oft_block_size=4, target_modules=["q"], use_cayley_neumann=False),
    "neumann_terms": dict(
        oft_block_size=4,
        target_modules=["q"],
        num_cayley_neumann_terms=7,
        init_weights=False,
        module_dropout=0.1,
    ),
    "bias_all": dict(oft_block_size=4, target_modules=["q"], bias="all"),
    "bias_oft_only": dict(oft_block_size=4, target_modules=["q"], bias="oft_only"),
    "task_type": dict(oft_block_size=4, target_modules=["q"], task_type="FEATURE_EXTRACTION"),
    "name_revision": dict(r=4, oft_block_size=0, target_modules=["v"]),
}
# Configs saved from a base model with a name, through get_peft_model(revision=...).
NAMED_BASE = {"name_revision": ("tiny-org/tiny-model", "v1")}


def write_json(name, obj):
    with open(os.path.join(OUT, name), "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")


def save_config(name, config_kwargs):
    torch.manual_seed(0)
    model = Tiny()
    peft_kwargs = {}
    if name in NAMED_BASE:
        model.name_or_path, peft_kwargs["revision"] = NAMED_BASE[name]
    peft_model = get_peft_model(model, OFTConfig(**config_kwargs), **peft_kwargs)
    with tempfile.TemporaryDirectory() as tmp:
        # No embedding check: it would look the base model's config up on the Hub.
        peft_model.save_pretrained(tmp, save_embedding_layers=False)
        saved = os.path.join(tmp, "adapter_config.json")
        shutil.copyfile(saved, os.path.join(OUT, f"{name}.json"))


def constructor_case(name, kwargs):
    try:
        OFTConfig(**kwargs)
    except Exception as exc:  # record whatever PEFT raises
        return dict(
            name=name,
            via="OFTConfig",
            input=kwargs,
            kind="error",
            type=type(exc).__name__,
            message=str(exc),
        )
    raise AssertionError(f"{name}: PEFT accepted {kwargs}")


def from_pretrained_case(name, adapter_config):
    """OFTConfig.from_pretrained on a directory holding this adapter_config.json."""
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "adapter_config.json"), "w") as f:
            json.dump(adapter_config, f)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                OFTConfig.from_pretrained(tmp)
            except Exception as exc:
                kind, exc_type, message = "error", type(exc).__name__, str(exc)
            else:
                warning = caught[0]
                kind, exc_type, message = "warning", warning.category.__name__, str(warning.message)
    return dict(
        name=name,
        via="from_pretrained",
        input=adapter_config,
        kind=kind,
        type=exc_type,
        message=message,
    )


def old_format_config():
    # What PEFT <= 0.13 wrote for OFT: no oft_block_size, use_cayley_neumann, ...
    return {
        "peft_type": "OFT",
        "r": 8,
        "module_dropout": 0.0,
        "target_modules": ["q"],
        "init_weights": True,
        "coft": False,
        "eps": 6e-05,
        "block_share": False,
        "task_type": None,
        "inference_mode": True,
    }


def pre_018_neumann_config():
    config = OFTConfig(oft_block_size=4, target_modules=["q"]).to_dict()
    config["target_modules"] = sorted(config["target_modules"])
    config["peft_type"] = "OFT"
    config["peft_version"] = "0.17.0"
    return config


# Versions whose "< 0.18.0" answer (packaging's) the C++ PEP 440 comparison must reproduce.
VERSIONS = [
    "0.0.0", "0.9.0", "0.17.0", "0.17.99", "0.18", "0.18.0", "0.18.0.0", "0.18.0.1", "0.18.0.dev0",
    "0.18.0dev1", "0.18.0a1", "0.18.0b2", "0.18.0rc1", "0.18.0rc1.dev3", "0.18.0.post1", "0.18.0-1",
    "0.18.0+local.7", "0.18.0.RC1", "0.18.1.dev0", "0.18.2.dev0", "0.17.0.post5", "0.20.1.dev0",
    "0.21.2", "1.0", "1", "v0.17.0", "0.180.0", "0.17.1a1.post2.dev3", "0.18.0.post1.dev0",
    "0.18.0-2.dev5", "1!0.1", "0!0.17.0", " 0.18.0 ", "0.18.0.preview2", "0.18.0-alpha.1",
]


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, config_kwargs in CONFIGS.items():
        save_config(name, config_kwargs)

    cases = [
        constructor_case("r_only", dict(r=8)),
        constructor_case("r0_block0", dict(r=0, oft_block_size=0)),
        constructor_case("layers_pattern_alone", dict(layers_pattern="layers")),
        constructor_case("invalid_task_type", dict(task_type="FOO", oft_block_size=4)),
        from_pretrained_case("old_format", old_format_config()),
        from_pretrained_case("neumann_pre_0_18", pre_018_neumann_config()),
    ]
    min_version = packaging.version.Version("0.18.0")
    version_cases = {v: packaging.version.Version(v) < min_version for v in VERSIONS}
    write_json("errors.json", dict(cases=cases, versions_below_0_18_0=version_cases))
    write_json(
        "versions.json",
        dict(
            python=platform.python_version(),
            torch=torch.__version__,
            peft=peft.__version__,
            transformers=transformers.__version__,
            packaging=packaging.__version__,
        ),
    )


if __name__ == "__main__":
    main()
