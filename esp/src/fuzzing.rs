pub fn esp_sa_open(_data: &[u8]) {}
