"""neurocore.nn: modules and layers (PyTorch's names)."""
from neurocore.nn._modules import *  # noqa: F401,F403
from neurocore.nn._vit import *  # noqa: F401,F403
from neurocore.nn._losses import *  # noqa: F401,F403
from neurocore.nn import utils  # noqa: F401
