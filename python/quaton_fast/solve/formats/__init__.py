"""Instance files and foreign models read into (and written from) the problem models: G-set / rudy
edge lists and SK .npz (readers), QPLIB (qplib_io), GAMS convert (read_gams), D-Wave dimod BQM / CQM
(dimod_models; optional dependency dimod). _files holds the readers' shared strict tokenizers."""
