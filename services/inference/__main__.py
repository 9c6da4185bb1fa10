import os

from shared.service import serve

# OpenMP threads that spin while waiting take CPU from the event loop on the same few cores (and collapse under any
# oversubscription); sleeping waiters cost little at this service's pass sizes. Set before torch is first imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
serve("services.inference.app:app", "inference")
