"""Optional peers of the benchmark: PyTorch and ONNX Runtime.

Neither is ever required: each accessor returns the module, or None when it
is not installed, and cases add a "torch" or "onnxruntime" implementation
only when it is there.  Both run with neurocore's thread count.
"""
import hashlib
import importlib
import math
import os

import numpy as np

import neurocore as nc

_modules = {}


def _optional(name):
    if name not in _modules:
        try:
            _modules[name] = importlib.import_module(name)
        except ImportError:
            _modules[name] = None
    return _modules[name]


def torch():
    """The torch module with neurocore's thread count, or None."""
    module = _optional("torch")
    if module is not None and module.get_num_threads() != nc.get_num_threads():
        module.set_num_threads(nc.get_num_threads())
    return module


def timm():
    return _optional("timm") if torch() is not None else None


def onnxruntime():
    """The onnxruntime module, or None.  Building a model needs the onnx
    package as well (``onnx_vit``)."""
    return _optional("onnxruntime")


def versions():
    """{name: version or None} of the optional peers (no import side effects
    beyond importing them)."""
    out = {}
    for name in ("torch", "onnxruntime", "onnx", "timm", "threadpoolctl", "tqdm", "matplotlib"):
        module = _optional(name)
        out[name] = getattr(module, "__version__", None) if module is not None else None
    return out


def cache_dir():
    """$NEUROCORE_CACHE, else $XDG_CACHE_HOME/neurocore, else ~/.cache/neurocore."""
    root = os.environ.get("NEUROCORE_CACHE")
    if not root:
        root = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "neurocore")
    return root


# ---- the ViT as an ONNX graph ----------------------------------------------

def onnx_vit(state_dict, num_heads, batch, image_size, eps=1e-6):
    """Path of an ONNX file computing nc.nn.VisionTransformer's inference
    forward for these weights at this batch size, built once and cached
    (the file name carries a hash of the weights).  None when the onnx
    package is absent.

    The graph is the same network written in ONNX operators: a strided Conv
    for the patch embedding, LayerNormalization (opset 17), MatMul + Add,
    Softmax, and GELU as x/2 (1 + erf(x/√2)) (ONNX Runtime fuses it).
    """
    onnx = _optional("onnx")
    if onnx is None:
        return None
    digest = hashlib.sha1()
    for name in sorted(state_dict):
        a = np.ascontiguousarray(state_dict[name], np.float32)
        digest.update(name.encode())
        digest.update(str(a.shape).encode())
        digest.update(a.tobytes())
    key = f"{digest.hexdigest()[:16]}-h{num_heads}-b{batch}-i{image_size}"
    path = os.path.join(cache_dir(), f"vit-{key}.onnx")
    if not os.path.isfile(path):
        model = _build_onnx_vit(onnx, state_dict, num_heads, batch, image_size, eps)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        onnx.save(model, tmp)
        os.replace(tmp, path)             # another process may build the same file
    return path


def _build_onnx_vit(onnx, sd, num_heads, batch, image_size, eps):
    from onnx import TensorProto, helper, numpy_helper

    p = {k: np.ascontiguousarray(v, np.float32) for k, v in sd.items()}
    D, C, P, _ = p["patch_embed.proj.weight"].shape
    N = (image_size // P) ** 2 + 1
    h, d = num_heads, D // num_heads
    depth = sum(1 for k in p if k.endswith("norm1.weight"))
    nodes, inits = [], []

    def const(name, value, dtype=np.float32):
        inits.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def node(op, inputs, name, **attrs):
        nodes.append(helper.make_node(op, inputs, [name], **attrs))
        return name

    def linear(x, prefix, out):
        w = const(prefix + ".weight.T", p[prefix + ".weight"].T)
        return node("Add", [node("MatMul", [x, w], out + ".mm"), const(prefix + ".bias", p[prefix + ".bias"])], out)

    def norm(x, prefix, out):
        return node("LayerNormalization", [x, const(prefix + ".weight", p[prefix + ".weight"]),
                                           const(prefix + ".bias", p[prefix + ".bias"])], out, axis=-1, epsilon=eps)

    x = node("Conv", ["images", const("patch.w", p["patch_embed.proj.weight"]),
                      const("patch.b", p["patch_embed.proj.bias"])], "patch.conv", strides=[P, P], kernel_shape=[P, P])
    x = node("Reshape", [x, const("shape.bdn", [batch, D, N - 1], np.int64)], "patch.flat")
    x = node("Transpose", [x], "patch.tokens", perm=[0, 2, 1])
    cls = node("Expand", [const("cls_token", p["cls_token"]), const("shape.b1d", [batch, 1, D], np.int64)], "cls")
    x = node("Concat", [cls, x], "tokens", axis=1)
    x = node("Add", [x, const("pos_embed", p["pos_embed"])], "x.0")
    qkv_shape = const("shape.qkv", [batch, N, 3, h, d], np.int64)
    bnd = const("shape.bnd", [batch, N, D], np.int64)
    scale = const("scale", 1.0 / math.sqrt(d))
    half, one, rsqrt2 = const("half", 0.5), const("one", 1.0), const("rsqrt2", 1.0 / math.sqrt(2.0))
    index = [const(f"idx{j}", j, np.int64) for j in range(3)]
    for i in range(depth):
        b = f"blocks.{i}"
        y = norm(x, f"{b}.norm1", f"{b}.ln1")
        qkv = node("Transpose", [node("Reshape", [linear(y, f"{b}.attn.qkv", f"{b}.qkv"), qkv_shape], f"{b}.qkv5")],
                   f"{b}.qkvT", perm=[2, 0, 3, 1, 4])
        q, k, v = (node("Gather", [qkv, index[j]], f"{b}.{n}", axis=0) for j, n in enumerate("qkv"))
        s = node("Mul", [node("MatMul", [q, node("Transpose", [k], f"{b}.kT", perm=[0, 1, 3, 2])], f"{b}.qk"), scale],
                 f"{b}.scores")
        a = node("MatMul", [node("Softmax", [s], f"{b}.attn", axis=-1), v], f"{b}.av")
        a = node("Reshape", [node("Transpose", [a], f"{b}.avT", perm=[0, 2, 1, 3]), bnd], f"{b}.heads")
        x = node("Add", [x, linear(a, f"{b}.attn.proj", f"{b}.proj")], f"{b}.x1")
        z = linear(norm(x, f"{b}.norm2", f"{b}.ln2"), f"{b}.mlp.fc1", f"{b}.fc1")
        erf = node("Erf", [node("Mul", [z, rsqrt2], f"{b}.zs")], f"{b}.erf")
        g = node("Mul", [node("Mul", [z, half], f"{b}.zh"), node("Add", [erf, one], f"{b}.erf1")], f"{b}.gelu")
        x = node("Add", [x, linear(g, f"{b}.mlp.fc2", f"{b}.fc2")], f"{b}.x2")
    cls = node("Gather", [x, index[0]], "cls.out", axis=1)
    logits = linear(norm(cls, "norm", "final.ln"), "head", "logits")
    graph = helper.make_graph(
        nodes, "neurocore_vit",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch, C, image_size, image_size])],
        [helper.make_tensor_value_info(logits, TensorProto.FLOAT, [batch, p["head.weight"].shape[0]])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="neurocore.bench")
    model.ir_version = 8           # readable by every ONNX Runtime that has opset 17
    onnx.checker.check_model(model)
    return model


def onnx_session(path):
    """An ONNX Runtime session on path with neurocore's thread count."""
    ort = onnxruntime()
    options = ort.SessionOptions()
    options.intra_op_num_threads = nc.get_num_threads()
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
