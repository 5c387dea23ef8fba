"""ScaleRL's testbeds by name (what ``polab list`` shows for ``--env``; chapter 14)."""

TESTBEDS: dict[str, str] = {
    "bandit": "contextual bandit, 64 arms per context (linear softmax policy, answers of "
              "1-5 tokens, 20% unpredictable contexts; card 24's smoke testbed)",
    "addition-reverse": "tiny GPT (106k parameters), 3-digit sums written least significant "
                        "digit first, SFT stopped at 30% greedy pass@1 (answers <= 5 tokens)",
}
"""Testbed name -> one-line description."""

LM_SCALE: dict[str, object] = {"learning_rate": 3e-4, "generation_batch_size": 256,
                               "num_train_prompts": 2048, "num_iterations": 300,
                               "eval_every": 10}
"""ScaleRL's knobs at GRPO's tiny-LM scale (32 prompts × 8, lr 3e-4; the config's defaults
are the bandit's: its lr 0.1 wrecks a GPT in one step)."""

ENV_FIELDS: dict[str, dict[str, object]] = {"addition-reverse": LM_SCALE}
"""The config fields a testbed implies (``polab train scalerl --env addition-reverse``)."""
