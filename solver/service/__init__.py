"""The gRPC service: worker processes, the servicer, auth, and server bootstrap."""
