"""synthkit: judge-based filtering of LLM agent traces into fine-tuning data."""

from importlib.metadata import PackageNotFoundError, version

from synthkit.errors import SynthkitError
from synthkit.traces.model import (
    Event,
    EventReward,
    EventType,
    LMCall,
    Message,
    OutcomeReward,
    Session,
    SessionStatus,
    Timestep,
    ToolCall,
)
from synthkit.traces.store import Selection, TraceDBError, TraceStore
from synthkit.traces.tracer import SessionTracer

try:
    __version__ = version("synthkit")
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0+unknown"

__all__ = [
    "Event",
    "EventReward",
    "EventType",
    "LMCall",
    "Message",
    "OutcomeReward",
    "Selection",
    "Session",
    "SessionStatus",
    "SessionTracer",
    "SynthkitError",
    "Timestep",
    "ToolCall",
    "TraceDBError",
    "TraceStore",
    "__version__",
]
