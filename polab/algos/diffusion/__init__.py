"""Diffusion-LM policy optimisation (chapter 14): RL for a masked-diffusion language model
(:mod:`polab.lm.diffusion`) whose sequence likelihood is intractable and is replaced by a
Monte-Carlo ELBO — BGPO's per-sample lower bound and d1's diffu-GRPO. Taught in
notebooks/14_scaling_and_diffusion.ipynb."""
