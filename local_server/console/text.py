"""The console's words in Bahasa Indonesia and English: one entry per phrase, both languages side
by side so that neither falls behind. `{name}` marks a value filled in by the page."""

# a phrase stays on one line beside its translation, however long: the pair is read together
# ruff: noqa: E501

from __future__ import annotations

from ektp_sync.config import Language

#: key → (Bahasa Indonesia, English)
TEXT: dict[str, tuple[str, str]] = {
    # navigation and frame
    "app": ("Konsol operator e-KTP", "e-KTP operator console"),
    "office": ("Kantor {code}", "Office {code}"),
    "nav.overview": ("Ringkasan", "Overview"),
    "nav.search": ("Cari penduduk", "Find a resident"),
    "nav.action": ("Perlu tindakan", "Needs action"),
    "nav.link": ("Jaringan", "Link"),
    "nav.api": ("API", "API"),
    "lang.other": ("English", "Bahasa Indonesia"),
    "signed_in": ("Masuk sebagai {name} ({role})", "Signed in as {name} ({role})"),
    "role.clerk": ("petugas", "clerk"),
    "role.supervisor": ("supervisor", "supervisor"),
    "logout": ("Keluar", "Log out"),
    "times_in": ("Waktu dalam {zone}", "Times in {zone}"),
    "refreshes": ("Diperbarui otomatis tiap {s} detik", "Refreshes every {s} seconds"),
    # login
    "login.title": ("Masuk", "Log in"),
    "login.token": ("Token operator", "Operator token"),
    "login.submit": ("Masuk", "Log in"),
    "login.bad": ("Token tidak dikenal node ini.", "This node does not know that token."),
    "login.hint": (
        "Token diberikan oleh supervisor kantor (--operator).",
        "Your token comes from the office's supervisor (--operator).",
    ),
    # states
    "state.queued": ("dalam antrean", "queued"),
    "state.uploading": ("sedang dikirim", "uploading"),
    "state.awaiting_decision": ("menunggu keputusan", "awaiting decision"),
    "state.approved": ("disetujui", "approved"),
    "state.rejected": ("ditolak", "rejected"),
    "state.review": ("ditinjau manual", "in review"),
    "state.failed": ("gagal (data tidak sah)", "failed (invalid data)"),
    "state.printed": ("sudah dicetak", "printed"),
    # overview
    "ov.counts": ("Rekaman per status", "Records per state"),
    "ov.waiting": ("Menunggu dikirim", "Waiting to be sent"),
    "ov.records": ("rekaman", "records"),
    "ov.oldest": ("Terlama menunggu", "Oldest waiting"),
    "ov.eta": (
        "Semua terkirim dalam sekitar {d} pada kecepatan sekarang",
        "All sent in about {d} at the current speed",
    ),
    "ov.eta_none": ("Tidak ada yang menunggu dikirim.", "Nothing is waiting to be sent."),
    "ov.eta_down": (
        "Tidak ada perkiraan: sambungan ke pusat putus.",
        "No estimate: the link to the centre is down.",
    ),
    "ov.eta_unknown": (
        "Tidak ada perkiraan: kecepatan belum terukur.",
        "No estimate: no rate measured yet.",
    ),
    "ov.link": ("Sambungan ke pusat", "Link to the centre"),
    "ov.needs": ("Perlu tindakan", "Needs action"),
    "link.up": ("tersambung", "up"),
    "link.down": ("putus", "down"),
    "link.down_since": ("putus sejak {when} ({d})", "down since {when} ({d})"),
    "link.unknown": ("belum diketahui", "not known yet"),
    "link.breaker_open": (
        "pemutus terbuka, percobaan berikut dalam {d}",
        "breaker open, next probe in {d}",
    ),
    "link.rate": ("Kecepatan terukur", "Measured rate"),
    "link.rtt": ("Waktu pulang-pergi", "Round trip"),
    "link.last_error": ("Galat terakhir", "Last error"),
    "link.last_success": ("Terakhir berhasil", "Last success"),
    # needs action
    "na.review": ("Ditinjau manual di pusat", "In manual review at the centre"),
    "na.rejected": ("Ditolak: beri tahu penduduk", "Rejected: tell the resident"),
    "na.failed": ("Gagal: perbaiki dan kirim ulang", "Failed: correct and re-send"),
    "na.approved": ("Disetujui, belum dicetak", "Approved, not printed yet"),
    "na.none": ("Tidak ada.", "None."),
    "na.more": ("{n} lainnya tidak ditampilkan", "{n} more not shown"),
    "na.rule": ("Aturan yang dilanggar", "Broken rule"),
    "reason.new_identity": ("identitas baru", "new identity"),
    "reason.reissue": ("penerbitan ulang", "reissue"),
    "reason.nik_conflict": (
        "NIK sudah terdaftar pada orang lain",
        "NIK already registered to someone else",
    ),
    "reason.duplicate_identity": (
        "biometrik cocok dengan penduduk terdaftar (NIK lain)",
        "biometrics match a registered resident (another NIK)",
    ),
    "reason.possible_duplicate": (
        "kemungkinan ganda, ditinjau manual",
        "possible duplicate, manual review",
    ),
    "reason.adjudicated": ("diputuskan petugas pusat", "decided by a centre officer"),
    # table heads
    "th.nik": ("NIK", "NIK"),
    "th.name": ("Nama", "Name"),
    "th.state": ("Status", "State"),
    "th.recorded": ("Direkam", "Recorded"),
    "th.reason": ("Alasan", "Reason"),
    "th.decided": ("Diputuskan", "Decided"),
    "th.waiting": ("Menunggu", "Waiting"),
    "th.action": ("Tindakan", "Action"),
    "th.start": ("Mulai", "Start"),
    "th.end": ("Selesai", "End"),
    "th.duration": ("Lama", "Duration"),
    "th.cause": ("Penyebab", "Cause"),
    # search and record
    "search.label": ("NIK (16 angka) atau nama", "NIK (16 digits) or name"),
    "search.submit": ("Cari", "Search"),
    "search.none": ("Tidak ditemukan: {q}", "Nothing found: {q}"),
    "search.short": (
        "Ketik NIK 16 angka atau minimal 3 huruf nama.",
        "Type a 16-digit NIK or at least 3 letters of a name.",
    ),
    "rec.title": ("Rekaman {id}", "Record {id}"),
    "rec.timeline": ("Riwayat", "Timeline"),
    "rec.queue": ("Posisi dalam antrean", "Place in the queue"),
    "rec.queue_of": ("ke-{p} dari {n}", "{p} of {n}"),
    "rec.queue_none": (
        "tidak dalam antrean (pusat sudah menerimanya)",
        "not queued (the centre has it)",
    ),
    "rec.eta": ("Perkiraan dapat dicetak", "Printable, estimated"),
    "rec.eta_at": ("{when} (sekitar {d} lagi)", "{when} (in about {d})"),
    "rec.eta_soon": ("{when} (kurang dari 1 menit lagi)", "{when} (within a minute)"),
    "rec.eta_queued": (
        "Asumsi: {bytes} di depannya, sampai akhir kiriman tempatnya, terkirim pada kecepatan sekarang {rate} (pulang-pergi {rtt}), lalu pusat memutuskan dalam {decision} (median {n} keputusan terakhir).",
        "Assuming: {bytes} ahead of it, to the end of the upload it travels in, sent at the current rate of {rate} (round trip {rtt}), then the centre decides in {decision} (median of the last {n} decisions).",
    ),
    "rec.eta_sent": (
        "Asumsi: datanya sudah naik ke pusat dan menunggu jawabannya (pulang-pergi {rtt}), lalu pusat memutuskan dalam {decision} (median {n} keputusan terakhir).",
        "Assuming: its data has gone up and waits for the centre's answer (round trip {rtt}), then the centre decides in {decision} (median of the last {n} decisions).",
    ),
    "rec.eta_awaiting": (
        "Asumsi: pusat menerimanya {sent} dan biasanya memutuskan dalam {decision} (median {n} keputusan terakhir).",
        "Assuming: the centre accepted it {sent} and usually decides in {decision} (median of the last {n} decisions).",
    ),
    "rec.printed": ("Kartu sudah dicetak {when}.", "The card was printed {when}."),
    "rec.eta_approved": ("Sudah dapat dicetak sejak {when}.", "Printable since {when}."),
    "missing.link_down": (
        "Tidak ada perkiraan: sambungan ke pusat putus; tergantung kapan pulih.",
        "No estimate: the link to the centre is down; it depends on when it comes back.",
    ),
    "missing.rate_unknown": (
        "Tidak ada perkiraan: kecepatan sambungan belum terukur.",
        "No estimate: the link's rate is not measured yet.",
    ),
    "missing.decision_time_unknown": (
        "Tidak ada perkiraan: belum ada keputusan pusat sebagai ukuran.",
        "No estimate: no decision of the centre to measure by yet.",
    ),
    "missing.in_review": (
        "Tidak ada perkiraan: ditinjau manual, seorang petugas pusat yang memutuskan.",
        "No estimate: in manual review; a centre officer decides.",
    ),
    "missing.not_printable": ("Tidak dapat dicetak.", "Not printable."),
    "ev.recorded": ("Direkam di kantor", "Recorded at the office"),
    "ev.past": (
        "Dikirim, ditolak pusat sebagai tidak sah: {reason} ({n} percobaan)",
        "Sent, refused by the centre as invalid: {reason} ({n} attempts)",
    ),
    "ev.resent.retry": ("Dikirim ulang apa adanya", "Re-sent as it was"),
    "ev.resent.correction": (
        "Dikoreksi ({fields}) dan dikirim ulang",
        "Corrected ({fields}) and re-sent",
    ),
    "ev.attempts": ("{n} percobaan kirim; terakhir: {error}", "{n} upload attempts; last: {error}"),
    "ev.next": ("Percobaan berikut {when}", "Next try {when}"),
    "ev.sent": ("Diterima pusat", "Accepted by the centre"),
    "ev.decided": (
        "Keputusan pusat: {status} ({reason})",
        "Centre's decision: {status} ({reason})",
    ),
    "ev.printed": ("Kartu dicetak", "Card printed"),
    "act.print": ("Cetak", "Print"),
    "act.retry": ("Kirim ulang", "Re-send"),
    "act.correct": ("Perbaiki dan kirim ulang", "Correct and re-send"),
    "act.supervisor_only": ("Hanya supervisor yang dapat bertindak.", "Only a supervisor can act."),
    "act.printed": (
        "Kartu boleh dicetak: persetujuan {no}.",
        "Card may be printed: approval {no}.",
    ),
    "act.retried": ("Dikirim ulang; kembali dalam antrean.", "Re-sent; back in the queue."),
    "act.corrected": ("Dikoreksi dan dikirim ulang.", "Corrected and re-sent."),
    "act.refused": ("Ditolak: {detail} ({rule})", "Refused: {detail} ({rule})"),
    "act.forbidden": (
        "Tindakan ini memerlukan peran supervisor.",
        "This action needs the supervisor role.",
    ),
    "act.csrf": (
        "Formulir kedaluwarsa atau dari situs lain; muat ulang halaman.",
        "The form is stale or from another site; reload the page.",
    ),
    "field.nik": ("NIK", "NIK"),
    "field.full_name": ("Nama lengkap", "Full name"),
    "field.birth_place": ("Tempat lahir", "Place of birth"),
    "field.birth_date": ("Tanggal lahir", "Date of birth"),
    "field.sex": ("Jenis kelamin (L/P)", "Sex (L/P)"),
    "field.address": ("Alamat", "Address"),
    # link page
    "ln.today": ("Putus hari ini", "Outages today"),
    "ln.week": ("Putus 7 hari terakhir", "Outages in the last 7 days"),
    "ln.uptime": (
        "Tersambung {p} dari 7 hari terakhir ({n} kali putus, total {d})",
        "Up {p} of the last 7 days ({n} outages, {d} in all)",
    ),
    "ln.ongoing": ("masih putus", "ongoing"),
    "ln.chart": ("Kecepatan kirim ({span}, per {bar})", "Upload throughput ({span}, per {bar})"),
    "ln.chart_note": (
        "Data yang diterima pusat per detik, sejak node dijalankan.",
        "Record bytes the centre acknowledged per second, since the node started.",
    ),
    "ln.span.1h": ("1 jam terakhir", "last hour"),
    "ln.span.24h": ("24 jam terakhir", "last 24 hours"),
    "ln.none": ("Tidak pernah putus.", "No outage."),
    # errors
    "err.not_found": ("Rekaman tidak ditemukan.", "Record not found."),
}


def translate(language: Language, key: str, **values: object) -> str:
    """The phrase `key` in `language`, with its `{name}` places filled (the key if unknown)."""
    pair = TEXT.get(key)
    if pair is None:
        return key
    phrase = pair[0] if language is Language.ID else pair[1]
    return phrase.format(**values) if values else phrase
