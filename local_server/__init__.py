"""The office node (Disdukcapil kabupaten/kota): records residents, syncs them with the centre."""
