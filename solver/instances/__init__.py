"""Problem generators: the paper's random networks and families of them."""
