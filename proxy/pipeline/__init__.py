"""The request's path through the proxy, one module per step, in flow order:
identify -> input_checks -> upstream -> output_checks / stream_relay -> decision -> record."""
