#!/usr/bin/env python
"""Generate model-level golden data (OFTModel: targeting, several adapters, merge, PEFT save format) from the REAL
Hugging Face PEFT library, for the C++/LibTorch OFT port.

Run from the repository root (CPU only, a few seconds):

    .venv/bin/python tests/golden/gen_oft_models.py            # writes tests/golden/data/models/
    .venv/bin/python tests/golden/gen_oft_models.py --out DIR  # somewhere else

The script re-executes itself once with PYTHONHASHSEED=0 so that the sets PEFT writes as JSON lists
(target_modules, exclude_modules in adapter_config.json) come out in the same order on every run.

Output layout (everything fp32 unless stated):

  models/<model>/base.safetensors     state dict of the base model, built with torch.manual_seed(0) right before
                                      constructing it (keys are the plain module names, e.g. "lin0.weight")
  models/<model>/input.safetensors    key "input": the model input (float, or int64 token ids), drawn after
                                      torch.manual_seed(1)
  models/<case>/adapter_config.json   \\  exactly what PeftModel.save_pretrained(dir) wrote for adapter "default"
  models/<case>/adapter_model.safetensors /  (README.md removed)
  models/<case>/other/...             the same for the second adapter "other" (when the case has one)
  models/<case>/expected.safetensors  output_default   model output with only "default" active (PEFT unmerged
                                                       forward, eval mode). conv: PEFT's MERGED model output,
                                                       because PEFT's unmerged Conv2d forward is wrong (B1 in docs/peft-differences.md)
                                      output_both      (two-adapter cases) after base_model.set_adapter(["default",
                                                       "other"]): rotations chained default then other
                                      output_merged    merge_and_unload() of a deep copy with "default" active
                                      output_disabled  inside `with model.disable_adapter():`
                                      output_default_peft_unmerged_B1  (conv only) PEFT's own unmerged forward;
                                                       informational, NOT the reference semantics
                                      metadata "case" (JSON), "versions" (JSON), "generator"
  models/targeting.json               tiny_lm targeting table: OFTConfig variants -> sorted targeted module names
                                      or {"error_type", "message"}

Adapters are saved right after injection, BEFORE any forward, so with coft=True the saved weights are the raw
(unprojected) Normal(0, 0.1) init; PEFT projects them in place at the first forward (a loader must do the same).
Each case is checked by reloading its directory with PeftModel.from_pretrained(+load_adapter) into a fresh base
model and comparing the outputs.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import shutil
import sys
import warnings

if os.environ.get("PYTHONHASHSEED") != "0":  # deterministic set -> list order in adapter_config.json
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable, os.path.abspath(__file__), *sys.argv[1:]])

import torch
import torch.nn as nn
import torch.nn.functional as F

import peft
import safetensors
import transformers
from peft import OFTConfig, PeftModel, get_peft_model
from safetensors import safe_open

GENERATOR = "tests/golden/gen_oft_models.py"


# ----------------------------------------------------------------------------------------------------------------
# models (the C++ side defines the same module names / shapes; activations are functional, not modules)
# ----------------------------------------------------------------------------------------------------------------
class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin0 = nn.Linear(10, 20)
        self.lin1 = nn.Linear(20, 20)
        self.lin2 = nn.Linear(20, 4)

    def forward(self, x):
        return self.lin2(F.relu(self.lin1(F.relu(self.lin0(x)))))


class ConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv0 = nn.Conv2d(4, 8, 3, padding=1)
        self.conv1 = nn.Conv2d(8, 8, 3, padding=1)
        self.head = nn.Linear(8 * 5 * 5, 3)

    def forward(self, x):
        h = F.relu(self.conv1(F.relu(self.conv0(x))))
        return self.head(torch.flatten(h, 1))


class EmbNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(30, 12)
        self.lin = nn.Linear(12, 4)

    def forward(self, ids):
        return self.lin(self.emb(ids))


class Attn(nn.Module):
    def __init__(self):
        super().__init__()
        self.q_proj = nn.Linear(16, 16)
        self.k_proj = nn.Linear(16, 16)
        self.v_proj = nn.Linear(16, 16)
        self.o_proj = nn.Linear(16, 16)


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.up_proj = nn.Linear(16, 32)
        self.down_proj = nn.Linear(32, 16)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.self_attn = Attn()
        self.mlp = Mlp()

    def forward(self, h):
        a = self.self_attn
        att = a.o_proj(a.q_proj(h) * torch.sigmoid(a.k_proj(h)) + a.v_proj(h))
        h = h + att
        return h + self.mlp.down_proj(F.relu(self.mlp.up_proj(h)))


class Inner(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed_tokens = nn.Embedding(50, 16)
        self.layers = nn.ModuleList([Block() for _ in range(3)])

    def forward(self, ids):
        h = self.embed_tokens(ids)
        for blk in self.layers:
            h = blk(h)
        return h


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.model = Inner()
        self.lm_head = nn.Linear(16, 50)

    def forward(self, ids):
        return self.lm_head(self.model(ids))


MODEL_CLASSES = {"mlp": MLP, "conv": ConvNet, "emb": EmbNet, "tiny_lm": TinyLM}


def make_input(model: str) -> torch.Tensor:
    torch.manual_seed(1)
    if model == "mlp":
        return torch.randn(6, 10)
    if model == "conv":
        return torch.randn(2, 4, 5, 5)
    if model == "emb":
        return torch.randint(0, 30, (2, 5))
    if model == "tiny_lm":
        return torch.randint(0, 50, (2, 7))
    raise ValueError(model)


def make_base(model: str) -> nn.Module:
    torch.manual_seed(0)
    return MODEL_CLASSES[model]().eval()


# ----------------------------------------------------------------------------------------------------------------
# cases
# ----------------------------------------------------------------------------------------------------------------
# "default": OFTConfig kwargs for get_peft_model; "other": kwargs for add_adapter("other", ...) or None.
# init_weights=False is added to every config (random Normal(0, 0.1) adapters).
CASES = [
    dict(
        name="mlp_two_adapters",
        model="mlp",
        default=dict(target_modules=["lin0", "lin1"], oft_block_size=4, r=0),
        other=dict(target_modules=["lin1", "lin2"], oft_block_size=2, r=0),
    ),
    dict(
        name="mlp_regex_bias_mts",
        model="mlp",
        default=dict(
            target_modules="lin[01]",
            r=5,
            oft_block_size=0,
            use_cayley_neumann=False,
            bias="oft_only",
            modules_to_save=["lin2"],
        ),
        other=None,
    ),
    dict(
        name="conv_block4",
        model="conv",
        default=dict(target_modules=["conv0", "conv1"], oft_block_size=4, r=0),
        other=None,
    ),
    dict(
        name="emb_block_share",
        model="emb",
        default=dict(target_modules=["emb", "lin"], r=2, oft_block_size=0, block_share=True),
        other=None,
    ),
    dict(
        name="tiny_lm_coft_two_adapters",
        model="tiny_lm",
        default=dict(target_modules=["q_proj", "v_proj"], oft_block_size=4, r=0, coft=True, eps=0.1),
        other=dict(target_modules=["up_proj", "down_proj"], r=4, oft_block_size=0),
    ),
    dict(
        name="tiny_lm_all_linear_ltt",
        model="tiny_lm",
        default=dict(target_modules="all-linear", oft_block_size=8, r=0, layers_to_transform=[0, 2]),
        other=None,
    ),
    dict(
        name="tiny_lm_ltt_pattern_exclude",
        model="tiny_lm",
        default=dict(
            target_modules=["q_proj", "o_proj"],
            oft_block_size=4,
            r=0,
            layers_to_transform=[1],
            layers_pattern="layers",
            exclude_modules=["model.layers.1.self_attn.o_proj"],
            num_cayley_neumann_terms=3,
        ),
        other=None,
    ),
]


# ----------------------------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------------------------
def versions() -> dict:
    return {
        "torch": torch.__version__,
        "peft": peft.__version__,
        "transformers": transformers.__version__,
        "safetensors": safetensors.__version__,
        "python": platform.python_version(),
    }


def c(t: torch.Tensor) -> torch.Tensor:
    return t.detach().clone().contiguous()


def maxdiff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.detach().double() - b.detach().double()).abs().max().item()


def jsonable(obj):
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if hasattr(obj, "value") and not isinstance(obj, (int, float, str, bool)):  # enums
        return obj.value
    return obj


ST_DTYPES = {torch.float32: "F32", torch.int64: "I64"}
assert sys.byteorder == "little", "write_st writes host-order bytes; safetensors is little-endian"


def write_st(path: str, tensors: dict[str, torch.Tensor], meta: dict[str, str] | None = None) -> None:
    """Write a safetensors file with a byte-stable header.

    safetensors.torch.save_file keeps __metadata__ in a Rust HashMap, so the order of its keys (and hence the
    file's bytes) changes from run to run.  This writer emits the same format (8-byte little-endian header length,
    JSON header padded with spaces to a multiple of 8, then the raw little-endian data) with sorted keys; the result
    is read back with safetensors and compared.
    """
    header: dict = {}
    if meta:
        header["__metadata__"] = {k: meta[k] for k in sorted(meta)}
    blobs, off = [], 0
    for k in sorted(tensors):
        v = tensors[k]
        assert v.is_contiguous(), k
        raw = v.detach().cpu().numpy().tobytes()
        header[k] = {"dtype": ST_DTYPES[v.dtype], "shape": list(v.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * (-len(hb) % 8)
    with open(path, "wb") as f:
        f.write(len(hb).to_bytes(8, "little"))
        f.write(hb)
        for b in blobs:
            f.write(b)
    os.chmod(path, 0o644)
    with safe_open(path, "pt") as f:  # round-trip check through the real reader
        assert sorted(f.keys()) == sorted(tensors)
        assert (f.metadata() or {}) == (meta or {})
        for k in tensors:
            assert torch.equal(f.get_tensor(k), tensors[k]), k


def file_keys(path: str) -> list[dict]:
    out = []
    with safe_open(path, "pt") as f:
        meta = f.metadata()
        for k in sorted(f.keys()):
            sl = f.get_slice(k)
            out.append({"key": k, "shape": list(sl.get_shape()), "dtype": sl.get_dtype()})
    return out, meta


def counts(pm) -> dict:
    t, a = pm.get_nb_trainable_parameters()
    return {"trainable_params": int(t), "all_params": int(a)}


def oft_layer_info(pm) -> dict:
    """Per targeted module, per adapter: resolved (r, block_size) and the adapter weight shape."""
    from peft.tuners.oft.layer import OFTLayer

    info = {}
    for name, mod in pm.base_model.model.named_modules():
        if isinstance(mod, OFTLayer):
            d = {}
            for a in mod.r:
                cont = mod.oft_embedding_R if a in getattr(mod, "oft_embedding_R", {}) else mod.oft_R
                d[a] = {
                    "r": int(mod.r[a]),
                    "oft_block_size": int(mod.oft_block_size[a]),
                    "container": "oft_embedding_R" if cont is not mod.oft_R else "oft_R",
                    "weight_shape": list(cont[a].weight.shape),
                }
            info[name] = d
    return info


def record_warnings(wlist) -> list[str]:
    seen, out = set(), []
    for w in wlist:
        msg = str(w.message)
        if msg not in seen:
            seen.add(msg)
            out.append(f"{w.category.__name__}: {msg}")
    return out


# ----------------------------------------------------------------------------------------------------------------
# one case
# ----------------------------------------------------------------------------------------------------------------
def run_case(i: int, spec: dict, bases: dict, inputs: dict, out_dir: str) -> dict:
    name, mname = spec["name"], spec["model"]
    case_dir = os.path.join(out_dir, name)
    if os.path.isdir(case_dir):
        shutil.rmtree(case_dir)
    os.makedirs(case_dir)
    x = inputs[mname]
    base = bases[mname]
    with torch.no_grad():
        base_out = base(x)

    cfg_d = dict(init_weights=False, **spec["default"])
    cfg_o = dict(init_weights=False, **spec["other"]) if spec["other"] is not None else None
    meta: dict = {
        "name": name,
        "model": mname,
        "seed_before_get_peft_model": 100 + i,
        "config_kwargs": {"default": cfg_d, **({"other": cfg_o} if cfg_o else {})},
        "adapter_names": ["default"] + (["other"] if cfg_o else []),
    }

    with warnings.catch_warnings(record=True) as wl:
        warnings.simplefilter("always")
        torch.manual_seed(100 + i)
        pm = get_peft_model(copy.deepcopy(base), OFTConfig(**cfg_d))
        meta["targeted_module_names_default"] = sorted(pm.targeted_module_names)
        if cfg_o:
            pm.add_adapter("other", OFTConfig(**cfg_o))
        pm.eval()
        meta["targeted_module_names"] = sorted(pm.targeted_module_names)
        meta["configs_after_injection"] = {a: jsonable(pm.peft_config[a].to_dict()) for a in pm.peft_config}
        meta["oft_layers"] = oft_layer_info(pm)
        meta["counts_default_active"] = counts(pm)
        meta["active_adapters_default"] = list(pm.active_adapters)

        # save BEFORE any forward (COFT would otherwise project the weights in place first)
        pm.save_pretrained(case_dir)
    meta["warnings_injection_and_save"] = record_warnings(wl)
    for root, _, files in os.walk(case_dir):
        for f in files:
            if f == "README.md":
                os.remove(os.path.join(root, f))
    meta["saved_files"] = {}
    for a in meta["adapter_names"]:
        sub = case_dir if a == "default" else os.path.join(case_dir, a)
        keys, st_meta = file_keys(os.path.join(sub, "adapter_model.safetensors"))
        meta["saved_files"][a] = {
            "dir": "." if a == "default" else a,
            "adapter_model_keys": keys,
            "adapter_model_metadata": st_meta,
        }
    saved_default = {k: c(v) for k, v in pm.state_dict().items() if ".default." in k}

    T: dict[str, torch.Tensor] = {}
    checks: dict[str, float] = {}
    with warnings.catch_warnings(record=True) as wl:
        warnings.simplefilter("always")
        with torch.no_grad():
            unmerged = pm(x)
            merged_model = copy.deepcopy(pm).merge_and_unload()
            out_merged = merged_model(x)
            with pm.disable_adapter():
                out_disabled = pm(x)
        # how much the forward changed the (saved) adapter weights: nonzero only with coft (in-place projection)
        after = {k: v for k, v in pm.state_dict().items() if ".default." in k}
        checks["adapter_weight_change_by_forward"] = max(maxdiff(saved_default[k], after[k]) for k in saved_default)
        if mname == "conv":
            T["output_default"] = c(out_merged)
            T["output_default_peft_unmerged_B1"] = c(unmerged)
            checks["conv_peft_unmerged_vs_merged"] = maxdiff(unmerged, out_merged)
        else:
            T["output_default"] = c(unmerged)
            checks["merged_vs_unmerged"] = maxdiff(unmerged, out_merged)
            assert checks["merged_vs_unmerged"] < 1e-4, (name, checks)
        T["output_merged"] = c(out_merged)
        T["output_disabled"] = c(out_disabled)
        checks["disabled_vs_base"] = maxdiff(out_disabled, base_out)
        checks["default_vs_base"] = maxdiff(T["output_default"], base_out)
        assert checks["disabled_vs_base"] == 0.0, (name, checks)
        assert checks["default_vs_base"] > 1e-3, (name, checks)
        meta["merged_model_state_dict_keys"] = sorted(merged_model.state_dict().keys())

        if cfg_o and mname != "conv":
            pm.base_model.set_adapter(["default", "other"])
            meta["active_adapters_both"] = list(pm.active_adapters)
            meta["counts_both_active"] = counts(pm)
            with torch.no_grad():
                T["output_both"] = c(pm(x))
            checks["both_vs_default"] = maxdiff(T["output_both"], T["output_default"])
            assert checks["both_vs_default"] > 1e-4
    meta["warnings_forward"] = record_warnings(wl)

    # round trip through the files we wrote
    with warnings.catch_warnings(record=True) as wl:
        warnings.simplefilter("always")
        loaded = PeftModel.from_pretrained(copy.deepcopy(base), case_dir)
        if cfg_o:
            loaded.load_adapter(os.path.join(case_dir, "other"), adapter_name="other")
        loaded.eval()
        with torch.no_grad():
            if mname == "conv":
                lo = copy.deepcopy(loaded).merge_and_unload()(x)
            else:
                lo = loaded(x)
            checks["reload_default"] = maxdiff(lo, T["output_default"])
            if "output_both" in T:
                loaded.base_model.set_adapter(["default", "other"])
                checks["reload_both"] = maxdiff(loaded(x), T["output_both"])
    meta["warnings_reload"] = record_warnings(wl)
    for k in ("reload_default", "reload_both"):
        if k in checks:
            assert checks[k] < 1e-6, (name, k, checks[k])
    meta["checks"] = checks
    meta["outputs"] = {k: list(v.shape) for k, v in T.items()}

    md = {
        "generator": GENERATOR,
        "versions": json.dumps(versions()),
        "case": json.dumps(meta),
    }
    write_st(os.path.join(case_dir, "expected.safetensors"), T, md)
    return meta


# ----------------------------------------------------------------------------------------------------------------
# targeting table (tiny_lm)
# ----------------------------------------------------------------------------------------------------------------
def targeting_variants() -> list[dict]:
    qkvo = ["q_proj", "k_proj", "v_proj", "o_proj"]
    V = [
        ("list_suffix", dict(target_modules=["q_proj", "v_proj"])),
        ("list_exact_full_names", dict(target_modules=["model.layers.0.self_attn.q_proj", "lm_head"])),
        ("list_exact_and_suffix", dict(target_modules=["model.layers.1.mlp.up_proj", "down_proj"])),
        ("list_partial_segment_no_match", dict(target_modules=["proj"])),
        ("list_multi_segment_suffix", dict(target_modules=["self_attn.q_proj", "mlp.up_proj"])),
        ("list_embedding_and_lm_head", dict(target_modules=["embed_tokens", "lm_head"])),
        ("regex_fullmatch", dict(target_modules=r".*\.layers\.[02]\.self_attn\.(q|k)_proj")),
        ("regex_plain_name_is_fullmatch", dict(target_modules="q_proj")),
        ("regex_matches_embedding", dict(target_modules=r"model\.(embed_tokens|layers\.0\.mlp\.up_proj)")),
        ("all_linear", dict(target_modules="all-linear")),
        ("all_linear_mixed_case", dict(target_modules="ALL-Linear")),
        ("exclude_list", dict(target_modules=qkvo, exclude_modules=["model.layers.0.self_attn.k_proj", "o_proj"])),
        ("exclude_regex_with_all_linear", dict(target_modules="all-linear", exclude_modules=r".*\.mlp\..*")),
        ("exclude_regex_not_fullmatch", dict(target_modules=["q_proj"], exclude_modules="q_proj")),
        ("exclude_everything", dict(target_modules=["q_proj"], exclude_modules=["q_proj"])),
        ("exclude_regex_every_module", dict(target_modules=["q_proj"], exclude_modules=".*")),
        ("exclude_nothing_warns", dict(target_modules=["q_proj"], exclude_modules=["nonexistent"])),
        ("ltt_int_no_pattern", dict(target_modules=["q_proj", "up_proj"], layers_to_transform=1)),
        ("ltt_int_zero_no_pattern", dict(target_modules=["q_proj"], layers_to_transform=0)),
        ("ltt_list_no_pattern", dict(target_modules=["q_proj", "up_proj"], layers_to_transform=[0, 2])),
        (
            "ltt_list_pattern",
            dict(target_modules=["q_proj", "up_proj"], layers_to_transform=[0, 2], layers_pattern="layers"),
        ),
        ("ltt_int_pattern_list", dict(target_modules=["o_proj"], layers_to_transform=2, layers_pattern=["layers"])),
        ("ltt_wrong_pattern", dict(target_modules=["q_proj"], layers_to_transform=[0], layers_pattern="h")),
        ("ltt_empty_list", dict(target_modules=["q_proj"], layers_to_transform=[])),
        ("ltt_out_of_range", dict(target_modules=["q_proj"], layers_to_transform=[5])),
        (
            "ltt_exact_name_skips_filter",
            dict(target_modules=["model.layers.0.self_attn.q_proj", "v_proj"], layers_to_transform=[2]),
        ),
        ("ltt_ignored_with_regex", dict(target_modules=r".*q_proj", layers_to_transform=[0])),
        ("ltt_ignored_with_all_linear", dict(target_modules="all-linear", layers_to_transform=[0, 2])),
        ("ltt_lm_head_suffix_has_no_index", dict(target_modules=["q_proj", "lm_head"], layers_to_transform=[0])),
        ("modules_to_save_excludes_target", dict(target_modules=["q_proj", "lm_head"], modules_to_save=["lm_head"])),
        (
            "modules_to_save_excludes_children",
            dict(target_modules=["q_proj", "v_proj"], modules_to_save=["layers.0.self_attn"]),
        ),
        ("nothing_matched", dict(target_modules=["nonexistent"])),
        ("unsupported_module_type", dict(target_modules=["self_attn"])),
        ("empty_target_list", dict(target_modules=[])),
        ("target_none_model_type_llama", dict(target_modules=None), {"model_type": "llama"}),
        ("target_none_model_type_bert", dict(target_modules=None), {"model_type": "bert"}),
        ("target_none_no_model_config", dict(target_modules=None)),
    ]
    # root "tiny_lm.model": the inner module (embed_tokens + layers) wrapped directly, so module keys START with the
    # ModuleList name ("layers.0.self_attn.q_proj"); this is where the layer-index regexes differ.
    V_inner = [
        ("inner_ltt_no_pattern", dict(target_modules=["q_proj"], layers_to_transform=[0])),
        ("inner_ltt_pattern", dict(target_modules=["q_proj"], layers_to_transform=[0], layers_pattern="layers")),
        ("inner_list_suffix", dict(target_modules=["q_proj"])),
        ("inner_exact_name_skips_filter", dict(target_modules=["layers.1.self_attn.q_proj"], layers_to_transform=0)),
    ]
    out = []
    for root, vs in (("tiny_lm", V), ("tiny_lm.model", V_inner)):
        for v in vs:
            kw = dict(oft_block_size=4, r=0, **v[1])
            out.append({"name": v[0], "root": root, "config_kwargs": kw, "model_config": v[2] if len(v) > 2 else None})
    return out


def gen_targeting(base_lm: nn.Module, out_dir: str) -> list[dict]:
    rows = []
    for var in targeting_variants():
        model = copy.deepcopy(base_lm) if var["root"] == "tiny_lm" else copy.deepcopy(base_lm.model)
        if var["model_config"] is not None:
            # PEFT reads model.config via getattr(model, "config", {"model_type": "custom"}); a plain dict is the
            # same shape as PEFT's own DUMMY_MODEL_CONFIG.
            model.config = dict(var["model_config"])
        row = {
            "name": var["name"],
            "root": var["root"],
            "config_kwargs": var["config_kwargs"],
            "model_config": var["model_config"],
        }
        with warnings.catch_warnings(record=True) as wl:
            warnings.simplefilter("always")
            try:
                cfg = OFTConfig(**var["config_kwargs"])
                pm = get_peft_model(model, cfg)
                row["targeted"] = sorted(pm.targeted_module_names)
                tm = pm.peft_config["default"].target_modules
                row["target_modules_after_injection"] = tm if isinstance(tm, str) or tm is None else sorted(tm)
                row["counts"] = counts(pm)
            except Exception as e:  # noqa: BLE001 -- recording PEFT's errors is the point
                row["error_type"] = type(e).__name__
                row["error_mro"] = [k.__name__ for k in type(e).__mro__ if k not in (object, BaseException)]
                row["message"] = str(e)
        row["warnings"] = record_warnings(wl)
        rows.append(row)
    doc = (
        "tiny_lm (see gen_oft_models.py / models/tiny_lm/base.safetensors). Each entry: get_peft_model(fresh <root>, "
        "OFTConfig(**config_kwargs)) where root 'tiny_lm' is the whole model and 'tiny_lm.model' its inner module "
        "(keys then start with 'layers.N.'; base weights = tiny_lm's 'model.*' entries without the 'model.' prefix); 'targeted' = sorted(peft_model.targeted_module_names), or error_type/message when "
        "OFTConfig(...) or get_peft_model raised. model_config, when not null, is set as the attribute model.config "
        "(a plain dict) before get_peft_model. target_modules_after_injection = the config's target_modules after PEFT "
        "resolved it (all-linear -> full names; None -> architecture default)."
    )
    with open(os.path.join(out_dir, "targeting.json"), "w") as f:
        json.dump({"generator": GENERATOR, "versions": versions(), "doc": doc, "variants": rows}, f, indent=2)
        f.write("\n")
    return rows


# ----------------------------------------------------------------------------------------------------------------
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "models"))
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(1)

    bases, inputs = {}, {}
    for m in MODEL_CLASSES:
        bases[m] = make_base(m)
        inputs[m] = make_input(m)
        d = os.path.join(args.out, m)
        os.makedirs(d, exist_ok=True)
        write_st(os.path.join(d, "base.safetensors"), {k: c(v) for k, v in bases[m].state_dict().items()},
                 {"generator": GENERATOR, "versions": json.dumps(versions())})
        write_st(os.path.join(d, "input.safetensors"), {"input": c(inputs[m])},
                 {"generator": GENERATOR, "versions": json.dumps(versions())})

    metas = [run_case(i, spec, bases, inputs, args.out) for i, spec in enumerate(CASES, start=1)]
    rows = gen_targeting(bases["tiny_lm"], args.out)

    if not args.quiet:
        for m in metas:
            both = f" both={m['counts_both_active']}" if "counts_both_active" in m else ""
            print(f"== {m['name']}: targeted={m['targeted_module_names']}")
            print(f"   default={m['counts_default_active']}{both}")
            print(f"   checks={m['checks']}")
            for w in m["warnings_injection_and_save"] + m["warnings_forward"]:
                print(f"   WARN {w[:200]}")
        for r in rows:
            res = r.get("targeted", f"{r.get('error_type')}: {r.get('message', '')[:120]}")
            print(f"-- {r['name']}: {res}")
            for w in r["warnings"]:
                print(f"   WARN {w[:160]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
