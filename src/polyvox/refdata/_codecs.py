"""Codecs clients may enable (spec 1.3.1, 9.1.3: retail/wholesale transcoding through rtpengine).

Hand-maintained. IvozProvider's own codec rows (ids, idens, names) come from
``_ivozprovider.CODECS``; this list adds the codecs Polyvox offers on top, which get
ids from ``_polyvox_ids``.
"""

# fmt: off
# (type, iden, name)
CODECS = (
    ("audio", "PCMA", "alaw G.711"), ("audio", "PCMU", "ulaw G.711"), ("audio", "G722", "G.722"),
    ("audio", "G729", "G.729"), ("audio", "GSM", "GSM"), ("audio", "iLBC", "iLBC"), ("audio", "opus", "Opus"),
    ("audio", "speex", "Speex"), ("video", "H264", "H.264"), ("video", "VP8", "VP8"),
)
