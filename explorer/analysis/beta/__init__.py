"""The β lab's analyses: what a β sweep is and where its runs are (:mod:`.sweep`), its
measures (:mod:`.measures`: sharpness, sample quality, the IWAE gap, memorisation), the
calibrated judge of samples with its "none of these" class (:mod:`.judge`; a plain
classifier for Explore is :mod:`.classifier`), a sweep's report from its runs
(:mod:`.report`), read per β over seeds (:mod:`.seeds`), and its reading in words, with
its uncertainty (:mod:`.reading`). No Streamlit."""
