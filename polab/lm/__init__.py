"""The tiny language-model testbed: tokenizer, GPT with a KV cache, sampling, tasks with
verifiable rewards, SFT, and the shipped base checkpoints (``load_base("addition")``).

Taught in notebooks/03_grpo_family.ipynb.
"""

from polab.lm.evaluate import evaluate
from polab.lm.generate import Samples, completion_logprobs, generate
from polab.lm.model import GPT, GPTConfig, KVCache
from polab.lm.pretrain import load_base
from polab.lm.sft import SFT, SFTConfig
from polab.lm.tasks import AdditionTask, CountdownTask, Problems, Task, make_task, mixture
from polab.lm.tokenizer import CharTokenizer

__all__ = ["GPT", "SFT", "AdditionTask", "CharTokenizer", "CountdownTask", "GPTConfig", "KVCache",
           "Problems", "SFTConfig", "Samples", "Task", "completion_logprobs", "evaluate",
           "generate", "load_base", "make_task", "mixture"]
