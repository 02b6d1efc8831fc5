//! The JSON bodies of `CONNECT` and `INFO` (client and route protocol) on arbitrary bytes:
//! `ConnectInfo::from_json`, `ServerInfo::from_json` (also the route `INFO`, `RouteInfo`) and
//! `RouteConnectInfo::from_json` must never panic. Whatever parses must also survive
//! `to_json` and read back to the same value, since the server re-sends what it parsed
//! (gossiped route INFO, the connz CONNECT fields).

#![no_main]

use libfuzzer_sys::fuzz_target;
use nats_proto::{ConnectInfo, RouteConnectInfo, ServerInfo};

fuzz_target!(|data: &[u8]| {
    if let Ok(info) = ConnectInfo::from_json(data) {
        let json = info.to_json();
        let back = ConnectInfo::from_json(&json);
        assert_eq!(back.as_ref().ok(), Some(&info), "CONNECT round trip: {}", String::from_utf8_lossy(&json));
    }
    if let Ok(info) = ServerInfo::from_json(data) {
        let json = info.to_json();
        let back = ServerInfo::from_json(&json);
        assert_eq!(back.as_ref().ok(), Some(&info), "INFO round trip: {}", String::from_utf8_lossy(&json));
    }
    if let Ok(info) = RouteConnectInfo::from_json(data) {
        let json = info.to_json();
        let back = RouteConnectInfo::from_json(&json);
        assert_eq!(back.as_ref().ok(), Some(&info), "route CONNECT round trip: {}", String::from_utf8_lossy(&json));
    }
});
