"""The README's demo: the provider end to end against a local Saturn emulator."""
