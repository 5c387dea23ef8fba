"""Chapter 14's diffusion exercise checkers (notebooks/14_scaling_and_diffusion.ipynb)."""
