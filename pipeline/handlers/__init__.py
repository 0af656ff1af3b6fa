"""Lambda handlers: thin. Each parses its event, loads the order, carries out the step the
domain decides (:mod:`pipeline.domain.saga`) through the adapters, and shapes the response;
dependencies are built from the function's environment (:mod:`.wiring`)."""
