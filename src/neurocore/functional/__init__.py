"""neurocore.functional: differentiable ops on Tensors (PyTorch's names)."""
from neurocore.functional._ops import *  # noqa: F401,F403
from neurocore.functional._losses import *  # noqa: F401,F403
from neurocore.functional._attention import *  # noqa: F401,F403
