"""Chapter 11 robust family figures: IWOCS (:mod:`.iwocs`) and DR-RPO (:mod:`.drrpo`)."""
