"""Runs on disk. The only package that writes files: run folders, uploaded data files and
the index of the runs folder. In parts:

    paths.py       file names, where users' runs live, run ids, the store's errors
    atomic.py      atomic writes (a temporary file, then ``os.replace``) and standard JSON
    run_folder.py  a run folder written and read back, validated (``check_weights``: the one
                   check of a model's weights, which a run zip's import uses too)
    manage.py      display names, renaming, deleting, fresh folders, the browser decoder's cache
    uploads.py     uploaded data files, per owner, and the disk they use
    index.py       the runs folder's SQLite index (run lists stay fast as runs pile up)

Every file is written atomically, so a crash never leaves a half-written file under a real
name, and a folder without a readable ``config.json`` and a model (``weights.safetensors``, or
a tracked loop's ONNX graphs) is not a run. The names below are the store's API:
``store.save_run``, ``store.open_run``, ...
"""
from __future__ import annotations

from .atomic import atomic_write_bytes, atomic_write_text, dumps
from .manage import (MAX_NAME, check_run_name, decoder_cache_path, delete_run, new_run_dir, rename_run,
                     save_decoder_onnx, save_files, save_onnx_model)
from .paths import (CONFIG, DECODER_ONNX, METRICS, MODEL_DECODER_ONNX, MODEL_ENCODER_ONNX, PROBE, SHIPPED_ROOT,
                    SUMMARY, WEIGHTS, SaveError, StoreError, check_run_id, find_run, has_model, is_shipped,
                    model_saved, onnx_model_only, runs_root)
from .run_folder import (FLOAT_DTYPES, Run, check_weights, data_shape_of, list_runs, load_model, load_probe,
                         load_probe_display, load_weights, metrics_to_csv, open_run, read_config, read_metrics,
                         read_summary, read_summary_checked, save_config, save_failure, save_metrics, save_probe,
                         save_run, save_summary, save_weights)
from .uploads import (DATASET_MAX_BYTES, UPLOAD_SUFFIXES, UPLOADS, UploadError, folder_bytes, owner_folder,  # noqa: F401
                      save_dataset, save_upload, upload_bytes_of)

__all__ = ["CONFIG", "DECODER_ONNX", "FLOAT_DTYPES", "MAX_NAME", "METRICS", "MODEL_DECODER_ONNX",
           "MODEL_ENCODER_ONNX", "PROBE", "SHIPPED_ROOT", "SUMMARY", "UPLOADS", "UPLOAD_SUFFIXES", "WEIGHTS", "Run",
           "SaveError", "StoreError", "UploadError", "atomic_write_bytes", "atomic_write_text", "check_run_id",
           "check_run_name", "check_weights", "data_shape_of", "decoder_cache_path", "delete_run", "dumps",
           "find_run", "folder_bytes", "has_model", "is_shipped", "list_runs", "load_model", "load_probe",
           "load_probe_display", "load_weights", "metrics_to_csv", "model_saved", "new_run_dir", "onnx_model_only", "open_run",
           "owner_folder", "read_config", "read_metrics", "read_summary", "read_summary_checked", "rename_run",
           "runs_root", "save_config", "save_decoder_onnx", "save_failure", "save_files", "save_metrics",
           "save_onnx_model", "save_probe", "save_run", "save_summary", "save_upload", "save_weights",
           "upload_bytes_of"]
