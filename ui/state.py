"""What the app owns for its lifetime and every request shares.

The server's budget (``NST_BUDGET_*``), the one folder results go to, the prepared copies of the networks, the
compiled Fast styles network (none on ZeroGPU, which does not support ``torch.compile``), and the Blocks
being served (the validators count a visitor's queued jobs in it).
"""

from __future__ import annotations

import os
from pathlib import Path

import gradio as gr

from nst_core.budget import Budget
from nst_core.image import fast
from nst_core.runtime import PreparedModels

from . import serving
from .serving import ResultStore

try:  # Present on Hugging Face Spaces only; on ZeroGPU hardware spaces.GPU borrows a GPU for each call.
    import spaces
except ImportError:
    spaces = None

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "examples" / "images"
AUDIO = ROOT / "examples" / "audio"
# Every heavy endpoint shares one queue slot: two optimizations at once would only halve each one's speed.
HEAVY = "heavy"
# The live webcam's streams and one-frame calls share these slots. Gradio holds a stream's slot for its whole run
# (it waits there for the next frame, up to the stream's time limit): with one slot, one open webcam kept every
# other visitor's stream and frame waiting up to five minutes. Each visitor may hold ``jobs_per_client`` of them.
LIVE, LIVE_SLOTS = "live", 4
BUDGET = Budget.from_env()
serving.budget = lambda: BUDGET  # looked up at each request: the budget in force
STORE = ResultStore()
ON_ZERO_GPU = spaces is not None and os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "true")
ZERO_GPU_MAX_S = 120  # the longest GPU lease a call asks ZeroGPU for (a free visitor's daily quota is minutes)
FAST_COMPILER = None if ON_ZERO_GPU else fast.Compiler()
PREPARED = PreparedModels()
BLOCKS: list[gr.Blocks] = []  # the app being served
