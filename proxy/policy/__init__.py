"""Rule files and the pure decision function: what may leave, and why not."""
