"""A background worker: counts its ticks in the app's data directory."""
import os
import time

path = os.path.join(os.environ.get("DATA_DIR", "/tmp"), "worker-ticks")
ticks = 0
while True:
    ticks += 1
    with open(path, "w") as f:
        f.write(str(ticks))
    print("tick", ticks, flush=True)
    time.sleep(1)
