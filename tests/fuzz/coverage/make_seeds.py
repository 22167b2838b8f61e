"""Write the seed corpus of the reader fuzz targets (tests/fuzz/corpus/<target>/), small valid files
made with the package's own writers or written out by hand (none is copied from a data set).

    python tests/fuzz/coverage/make_seeds.py        # rewrites tests/fuzz/corpus/
"""
import gzip
import io
import pickle
import shutil
import struct
import tempfile
from pathlib import Path

import numpy as np

CORPUS = Path(__file__).resolve().parents[1] / "corpus"

GAMS = """Variables objvar, x1, x2, x3;
Binary Variables b1, b2;
Equations e1, e2, e3;
e1.. objvar =E= 2*x1*x2 - 3*sqr(x3) + b1*b2 + 0.5*x1 - (x2 - 1);
e2.. x1 + x2 + b1 =L= 3;
e3.. -x3 + 2*b2 =G= -1.5;
x1.lo = -1; x1.up = 2; x2.fx = 0.5; x3.lo = -2; x3.up = 4; x3.l = 1;
Model m / all /;
Solve m using MIQCP minimizing objvar;
"""

YAML = """tanh_sigmoid_coeffs: [1.0, 0.0, 2.0, 0.1, 0.0]
led_poly_coeffs_pos: [0.0, 0.01, 0.05, 0.0]
led_poly_coeffs_neg: [0.0, -0.01, 0.11, 0.0]
deq_input_min_max: [-1.3, 1.3]
row_profiles: {positive_row12: [1.0, 0.9], negative_row12: [1.0, 1.1]}
column_wise_weights_distortion:
  positive_row12: [[0.01, 0.9, 0.02], [0.0, 1.0, 0.01]]
  negative_row12: [[0.02, 1.1, 0.0], [0.01, 0.95, 0.02]]
pd_crosstalk:
  ratio_to_later_positive_row12: [0.01, 0.0]
  ratio_to_later_negative_row12: [0.0, 0.02]
  ratio_to_earlier_positive_row12: [0.0, 0.01]
  ratio_to_earlier_negative_row12: [0.02, 0.0]
  pd_positive_darkness: [0.001, 0.002]
  pd_negative_darkness: [0.002, 0.001]
pd_offset: {pd_offset_positive_row12: [0.0, 0.01], pd_offset_negative_row12: [0.01, 0.0]}
"""


def _npz(path, **arrays):
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def main() -> None:
    from quaton_fast._rundir import write_settings
    from quaton_fast.export.masks import export_fabrication
    from quaton_fast.solve.models.constraints import ConstrainedProblem
    from quaton_fast.solve.models.problems import MaxCut
    from quaton_fast.solve.formats.readers import write_gset, write_qplib, write_rudy
    import scipy.sparse as sp
    import torch

    shutil.rmtree(CORPUS, ignore_errors=True)
    d = {n: CORPUS / n for n in ("gset", "rudy", "sk", "sk_ground_energies", "qplib", "gams", "hardware_yaml",
                                 "masks_npz", "idx", "cifar_batch", "mnist_subset", "checkpoint", "relief_stl",
                                 "levels_gds", "settings_json")}
    for p in d.values():
        p.mkdir(parents=True)
    g = MaxCut(4, np.array([[0, 1], [1, 2], [2, 3], [0, 3]]), np.array([1.0, -1.0, 2.5, 1.0]))
    write_gset(g, d["gset"] / "seed_square.txt")
    (d["gset"] / "seed_signs.txt").write_text("3 2\n1 2 +1\n2 3 -1e-3\n")
    write_rudy(g, d["rudy"] / "seed_square.rud")
    J = np.array([[0, 1, -1], [1, 0, 0.5], [-1, 0.5, 0]])
    _npz(d["sk"] / "seed_J.npz", J=J)
    _npz(d["sk"] / "seed_arr0.npz", arr_0=J.astype(np.float32))
    _npz(d["sk_ground_energies"] / "seed.npz", arr_0=np.array([-1.5, -2.25]))
    H = sp.csr_matrix(np.array([[2.0, -1, 0], [-1, 0, 0.5], [0, 0.5, -1]]))
    P = ConstrainedProblem(H, np.array([1.0, 0, -2]), 0.5, "minimize", np.array([0.0, 0, -1]),
                           np.array([1.0, 1, 3]), np.array([True, True, False]),
                           sp.csr_matrix(np.array([[1.0, 1, 0]])), np.array([1.0]),
                           sp.csr_matrix(np.array([[0.0, 1, 1]])), np.array([2.0]), None, {"name": "seed"})
    write_qplib(P, d["qplib"] / "seed_mixed.qplib")
    (d["gams"] / "seed_miqcp.gms").write_text(GAMS)
    (d["hardware_yaml"] / "seed_2ch.yaml").write_text(YAML)
    heights = np.array([[[0.0, 1e-6], [2e-6, 1e-6]]])
    _npz(d["masks_npz"] / "seed_2x2.npz", heights=heights, dx=np.array(8e-6))
    with tempfile.TemporaryDirectory() as t:
        masks = Path(t) / "m.npz"
        _npz(masks, heights=heights, dx=np.array(8e-6))
        out = export_fabrication(masks, Path(t) / "out", base_thickness=1e-4)
        shutil.copy(out["stl"][0], d["relief_stl"] / "seed_2x2.stl")
        shutil.copy(out["gds"], d["levels_gds"] / "seed_2x2.gds")
    (d["idx"] / "seed_images.idx").write_bytes(struct.pack(">BBBBIII", 0, 0, 8, 3, 2, 2, 2) + bytes(range(8)))
    (d["idx"] / "seed_labels.idx").write_bytes(struct.pack(">BBBBI", 0, 0, 8, 1, 3) + bytes([1, 7, 9]))
    with open(d["cifar_batch"] / "seed_batch", "wb") as fh:
        pickle.dump({b"data": np.arange(2 * 3072, dtype=np.uint8).reshape(2, 3072), b"labels": [3, 9],
                     b"batch_label": b"seed"}, fh, protocol=2)
    row = ",".join(["0"] * 700 + ["0.5"] * 84 + ["7"])
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
        gz.write((row + "\n").encode())
    (d["mnist_subset"] / "seed_row.csv.gz").write_bytes(buf.getvalue())
    torch.save({"model": {"w": torch.zeros(2)}, "config": {"task": "mnist"}, "epoch": 1},
               d["checkpoint"] / "seed.pt")
    write_settings(d["settings_json"] / "seed_settings.json", {"lr": 0.01, "levels": 4, "task": "mnist"},
                   "quaton-fast train --task mnist")
    for p in sorted(CORPUS.rglob("*")):
        if p.is_file():
            print(f"{p.relative_to(CORPUS)}: {p.stat().st_size} bytes")


if __name__ == "__main__":
    main()
