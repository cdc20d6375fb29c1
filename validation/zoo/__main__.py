"""``python -m validation.zoo``: check every network of the zoo against its spec."""

from validation.zoo import ZOO, check_all

for s in check_all():
    print(f"{s['name']:10s} {s['params']:>10,d} params  {s['nodes']:3d} nodes  "
          f"out {s['output_shape']}")
print(f"all {len(ZOO)} networks agree with their specs; every symcnn layer type is covered")
