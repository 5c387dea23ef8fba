"""Chapter 11 offline family's figures (CQL, H2O, A2PR)."""
