"""Process wiring shared by the services: loops, consumers, the embedded and service runners."""
