"""Sweeps and scaling curves (chapter 14): :mod:`.curves` fits card 24's sigmoid of pass rate
against compute, counts compute in FLOPs and bootstraps confidence intervals over seeds."""
