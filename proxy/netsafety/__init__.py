"""Network safety: what an address is, and how a name becomes the address we dial."""
