//! The log's bytes: the header and the frames, encoded, decoded and replayed (the layout is in
//! the parent module's documentation).

use super::*;

/// What a replay found: the records, the lsns, and where the good frames end.
pub(super) struct Replay {
    pub(super) base_lsn: u64,
    pub(super) version: u32,
    pub(super) next_lsn: u64,
    pub(super) records: Vec<(u64, WalRecord)>,
    /// The offset just past the last good frame.
    pub(super) end: u64,
}

pub(super) fn check_dim(dim: usize) -> Result<()> {
    if dim == 0 || u32::try_from(dim).is_err() {
        return Err(Error::invalid_parameter(
            "dim",
            format!(
                "{dim} is not a dimension a log can hold (1 to {})",
                u32::MAX
            ),
        ));
    }
    Ok(())
}

/// The payload length of a record of `kind` with `count` ids, or `None` when it would not fit a
/// frame (or `kind` is unknown); for kind 3, the least length (every payload empty but its
/// length field).
pub(super) fn payload_len(kind: u8, count: usize, dim: usize) -> Option<usize> {
    let per_row = match kind {
        KIND_UPSERT => dim.checked_mul(4)?.checked_add(8)?,
        KIND_UPSERT_PAYLOADS => dim.checked_mul(4)?.checked_add(12)?,
        KIND_DELETE => 8,
        _ => return None,
    };
    let len = count.checked_mul(per_row)?.checked_add(PAYLOAD_FIXED_LEN)?;
    (len <= MAX_PAYLOAD_LEN && count <= u32::MAX as usize).then_some(len)
}

/// The header of a log of format `version` and dimension `dim` whose first record gets
/// `base_lsn`.
pub(super) fn encode_header(dim: usize, base_lsn: u64, version: u32) -> Vec<u8> {
    let mut w = ByteWriter::new();
    w.buf.extend_from_slice(&WAL_MAGIC);
    w.u32(version).u32(dim as u32).u64(base_lsn);
    let crc = checksum(&w.buf);
    w.u32(crc);
    debug_assert_eq!(w.buf.len(), WAL_HEADER_LEN);
    w.buf
}

/// Checks the header (magic, then checksum, then version, then base lsn and dimension) and returns
/// its base lsn and version.
pub(super) fn decode_header(bytes: &[u8], path: &Path, dim: usize) -> Result<(u64, u32)> {
    if bytes.len() < WAL_HEADER_LEN {
        return Err(Error::corrupt(
            path,
            format!(
                "write-ahead log of {} bytes is shorter than its {WAL_HEADER_LEN}-byte header",
                bytes.len()
            ),
        ));
    }
    let mut r = ByteReader::new(bytes);
    let magic = r.take(8);
    let _version = r.u32();
    let file_dim = r.u32();
    let base_lsn = r.u64();
    let (Some(magic), Some(file_dim), Some(base_lsn)) = (magic, file_dim, base_lsn) else {
        return Err(Error::corrupt(path, "write-ahead log header is short"));
    };
    if magic != WAL_MAGIC {
        return Err(Error::corrupt(
            path,
            "not a stratavec write-ahead log (bad magic)",
        ));
    }
    let version = check_versions(
        &bytes[..WAL_HEADER_LEN],
        path,
        "write-ahead log header",
        WAL_MIN_VERSION..=WAL_VERSION,
    )?;
    if base_lsn < FIRST_LSN || base_lsn == u64::MAX {
        return Err(Error::corrupt(
            path,
            format!("write-ahead log header has base lsn {base_lsn}"),
        ));
    }
    if file_dim as usize != dim {
        return Err(Error::corrupt(
            path,
            format!(
                "write-ahead log holds vectors of dimension {file_dim}, the collection has dimension {dim}"
            ),
        ));
    }
    Ok((base_lsn, version))
}

/// Decodes a payload whose checksum matched; `None` when its counts, kind or length are
/// inconsistent.
pub(super) fn decode_record(payload: &[u8], dim: usize, version: u32) -> Option<(u64, WalRecord)> {
    let mut r = ByteReader::new(payload);
    let kind = r.u8()?;
    let lsn = r.u64()?;
    let count = r.u32()? as usize;
    let least = payload_len(kind, count, dim)?;
    let exact = kind != KIND_UPSERT_PAYLOADS;
    if (exact && least != payload.len()) || least > payload.len() {
        return None;
    }
    if kind == KIND_UPSERT_PAYLOADS && version < 2 {
        return None;
    }
    let ids = (0..count).map(|_| r.u64()).collect::<Option<Vec<_>>>()?;
    let record = match kind {
        KIND_UPSERT | KIND_UPSERT_PAYLOADS => {
            let vectors = (0..count * dim)
                .map(|_| r.f32())
                .collect::<Option<Vec<_>>>()?;
            let payloads = if kind == KIND_UPSERT_PAYLOADS {
                let mut list = Vec::new();
                for _ in 0..count {
                    let len = r.u32()? as usize;
                    let bytes = r.take(len)?;
                    let mut one = ByteReader::new(bytes);
                    let p = decode_payload(&mut one)?;
                    if one.remaining() != 0 {
                        return None;
                    }
                    list.push(p);
                }
                Some(list)
            } else {
                None
            };
            if r.remaining() != 0 {
                return None;
            }
            WalRecord::Upsert {
                ids,
                vectors,
                payloads,
            }
        }
        KIND_DELETE => WalRecord::Delete { ids },
        _ => return None,
    };
    debug_assert_eq!(r.remaining(), 0);
    Some((lsn, record))
}

/// Reads the header and every good frame of `file`, stopping at the first bad one.
pub(super) fn replay(file: &dyn VfsFile, path: &Path, dim: usize) -> Result<Replay> {
    let file_len = file.len().map_err(|e| Error::io(path, e))?;
    replay_from(
        BufReader::with_capacity(1 << 16, FileReader::new(file)),
        file_len,
        path,
        dim,
    )
}

/// [`replay`] over any reader of `file_len` bytes (`path` is for messages).
pub(super) fn replay_from(
    mut reader: impl Read,
    file_len: u64,
    path: &Path,
    dim: usize,
) -> Result<Replay> {
    let mut header = Vec::with_capacity(WAL_HEADER_LEN);
    (&mut reader)
        .take(WAL_HEADER_LEN as u64)
        .read_to_end(&mut header)
        .map_err(|e| Error::io(path, e))?;
    let (base_lsn, version) = decode_header(&header, path, dim)?;

    let mut records = Vec::new();
    let mut end = WAL_HEADER_LEN as u64;
    let mut next_lsn = base_lsn;
    let mut payload = Vec::new();
    loop {
        let left = file_len.saturating_sub(end);
        if left < FRAME_HEADER_LEN as u64 {
            break;
        }
        let mut frame_header = [0u8; FRAME_HEADER_LEN];
        if !read_exact_or_eof(&mut reader, &mut frame_header, path)? {
            break;
        }
        let mut r = ByteReader::new(&frame_header);
        let (Some(len), Some(crc)) = (r.u32(), r.u32()) else {
            break;
        };
        let len = len as usize;
        if len < PAYLOAD_FIXED_LEN || len as u64 > left - FRAME_HEADER_LEN as u64 {
            break;
        }
        payload.resize(len, 0);
        if !read_exact_or_eof(&mut reader, &mut payload, path)? {
            break;
        }
        if checksum(&payload) != crc {
            break;
        }
        let Some((lsn, record)) = decode_record(&payload, dim, version) else {
            break;
        };
        if lsn < next_lsn || lsn == u64::MAX {
            break;
        }
        records.push((lsn, record));
        next_lsn = lsn + 1;
        end += (FRAME_HEADER_LEN + len) as u64;
    }
    Ok(Replay {
        base_lsn,
        version,
        next_lsn,
        records,
        end,
    })
}

/// `read_exact`, but `Ok(false)` when the file ends first (a log being appended to may be read).
pub(super) fn read_exact_or_eof(
    reader: &mut impl Read,
    buf: &mut [u8],
    path: &Path,
) -> Result<bool> {
    match reader.read_exact(buf) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// What [`fuzz_replay`] found in a log's bytes.
pub(crate) struct FuzzReplay {
    /// The records, with their lsns.
    pub records: Vec<(u64, WalRecord)>,
    /// The offset just past the last good frame.
    pub end: u64,
    /// The header's base lsn.
    pub base_lsn: u64,
}

/// Replays a log held in memory (for the fuzzer): exactly what [`Wal::open`] reads from a file.
pub(crate) fn fuzz_replay(bytes: &[u8], dim: usize) -> Result<FuzzReplay> {
    check_dim(dim)?;
    let r = replay_from(bytes, bytes.len() as u64, Path::new("<bytes>"), dim)?;
    Ok(FuzzReplay {
        records: r.records,
        end: r.end,
        base_lsn: r.base_lsn,
    })
}
