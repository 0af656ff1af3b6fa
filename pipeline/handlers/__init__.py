"""Lambda handlers: thin (parse, call the domain and adapters, shape the response)."""
