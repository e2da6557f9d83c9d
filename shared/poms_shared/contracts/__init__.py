"""Message contracts: the envelope and every command and event on the bus."""

from poms_shared.contracts.envelope import Envelope, MalformedMessage, decode, encode, new_envelope
from poms_shared.contracts.messages import MESSAGE_TYPES, Command, Event, Message

__all__ = [
    "MESSAGE_TYPES",
    "Command",
    "Envelope",
    "Event",
    "MalformedMessage",
    "Message",
    "decode",
    "encode",
    "new_envelope",
]
