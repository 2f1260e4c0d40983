"""neurocore.optim: optimizers and learning-rate schedulers (PyTorch's names)."""
from neurocore.optim._optimizers import *  # noqa: F401,F403
from neurocore.optim._newton_cg import *  # noqa: F401,F403
from neurocore.optim import lr_scheduler  # noqa: F401
