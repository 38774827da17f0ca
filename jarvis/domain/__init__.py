"""The facade's operations, one module per area; :class:`jarvis.facade.Jarvis` composes them."""
