"""Connection states (Zeek conn_state, also Argus/NSL-KDD flags) mapped to status and error."""

from __future__ import annotations

import pandas as pd

from netrca.io._text import by_value, spread

__all__ = ["CONN_STATES", "map_conn_state"]

#: state → (status, error_code). Zeek's conn_state vocabulary (which NSL-KDD/KDD'99 call
#: ``flag``) plus Argus/UNSW-NB15 ``state`` values. States not listed: SUCCESS/NONE.
CONN_STATES: dict[str, tuple[str, str]] = {
    "S0": ("FAILED", "TIMEOUT"),  # attempt seen, no reply
    "REJ": ("FAILED", "CONNECTION_REFUSED"),  # attempt rejected
    "RSTOS0": ("FAILED", "RESET"),  # SYN then RST from originator, no SYN-ACK
    "RSTRH": ("FAILED", "RESET"),  # responder SYN-ACK then RST, no originator SYN
    "SH": ("FAILED", "NO_HANDSHAKE"),  # SYN then FIN, no SYN-ACK
    "SHR": ("FAILED", "NO_HANDSHAKE"),  # responder SYN-ACK then FIN, no SYN
    "RSTO": ("SUCCESS", "RESET"),  # established, originator aborted
    "RSTR": ("SUCCESS", "RESET"),  # established, responder aborted
    "INT": ("FAILED", "TIMEOUT"),  # Argus: initial packets only, no reply
    "REQ": ("FAILED", "TIMEOUT"),  # Argus: request seen, no reply
    "RST": ("FAILED", "RESET"),  # Argus: reset
}


def map_conn_state(state: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Vectorised state → (status, error_code), computed once per distinct state."""
    codes, values = by_value(state.astype("string"))
    s = values.str.upper().str.strip()
    status = s.map({k: v[0] for k, v in CONN_STATES.items()}).fillna("SUCCESS")
    error = s.map({k: v[1] for k, v in CONN_STATES.items()}).fillna("NONE")
    return (
        spread(status.astype("string"), codes, state.index),
        spread(error.astype("string"), codes, state.index),
    )
