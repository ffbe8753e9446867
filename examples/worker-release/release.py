"""The release phase: runs once per deploy before the new processes start."""
import os
import time

path = os.path.join(os.environ.get("DATA_DIR", "/tmp"), "release-stamp")
with open(path, "w") as f:
    f.write("released at %d\n" % time.time())
print("release phase done")
