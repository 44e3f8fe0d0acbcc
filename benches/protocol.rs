//! Protocol benchmarks: ISO 8583 decode+encode of the 0200 vector under each
//! dialect, DES against RustCrypto's `des`, and the whole per-purchase crypto
//! bundle (terminal, card and host). Results and the command are in
//! BENCHMARKS.md.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use des::cipher::{BlockCipherEncrypt, KeyInit};
use possim::protocol::crypto::{self, ArqcInput, Des, MacPadding, TdesKey};
use possim::protocol::iso8583::{Spec, encode_with_mac, verify_mac};
use possim::protocol::response::ResponseCode;
use possim::protocol::tlv;

fn vector(name: &str) -> serde_json::Value {
    let p = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(p).expect("vector file")).expect("json")
}

fn hexs(v: &serde_json::Value, k: &str) -> Vec<u8> {
    hex::decode(v[k].as_str().expect("string")).expect("hex")
}

fn key(k: &serde_json::Value, name: &str) -> TdesKey {
    TdesKey::from_hex(k[name].as_str().expect("key")).expect("key hex")
}

fn iso8583(c: &mut Criterion) {
    for (file, spec) in
        [("iso8583_ascii.json", Spec::iso87_ascii()), ("iso8583_binary.json", Spec::iso87_binary())]
    {
        let wire = hexs(&vector(file)["messages"][0], "encoded");
        c.bench_function(
            &format!("iso8583/decode+encode 0200 {} ({} bytes)", spec.name(), wire.len()),
            |b| {
                let mut out = Vec::with_capacity(512);
                b.iter(|| {
                    let m = spec.decode(black_box(&wire)).expect("decodes");
                    out.clear();
                    spec.encode_into(&m, &mut out).expect("encodes");
                    black_box(out.len())
                })
            },
        );
    }
}

fn des_block(c: &mut Criterion) {
    let k = [0x13, 0x34, 0x57, 0x79, 0x9B, 0xBC, 0xDF, 0xF1];
    let ours = Des::new(k);
    c.bench_function("des/block possim table DES", |b| {
        b.iter(|| ours.encrypt(black_box([7u8; 8])))
    });
    let theirs = des::Des::new_from_slice(&k).expect("8 bytes");
    c.bench_function("des/block RustCrypto des 0.9", |b| {
        b.iter(|| {
            let mut blk = black_box([7u8; 8]).into();
            theirs.encrypt_block(&mut blk);
            blk
        })
    });
    c.bench_function("des/key schedule possim", |b| b.iter(|| Des::new(black_box(k))));
    let tk = TdesKey::new([0x13; 16]);
    c.bench_function("des/block possim TDES", |b| b.iter(|| tk.encrypt(black_box([7u8; 8]))));
}

/// Every cryptographic operation of one chip+PIN purchase, as the terminal,
/// the card and the host perform them in a simulation.
fn purchase_bundle(c: &mut Criterion) {
    let keys = vector("keys.json");
    let (tak, tpk, imk, cvk, pvk) = (
        key(&keys, "tak"),
        key(&keys, "tpk"),
        key(&keys, "imk_ac"),
        key(&keys, "cvk"),
        key(&keys, "pvk"),
    );
    let spec = Spec::iso87_ascii();
    let req_wire = hexs(&vector("iso8583_ascii.json")["messages"][0], "encoded");
    let resp_wire = hexs(&vector("iso8583_ascii.json")["messages"][1], "encoded");
    let request = spec.decode(&req_wire).expect("request");
    let response = spec.decode(&resp_wire).expect("response");
    let f55 = request.icc_data().expect("55").to_vec();
    let input = ArqcInput::from_tags(|t| tlv::find(&f55, t)).expect("tags");
    let (pan, pin) = ("4073662585178123", "7070");
    let card_mk = crypto::derive_icc_master_key(&imk, pan, "00").expect("mk");

    c.bench_function("crypto/purchase bundle (terminal + card + host)", |b| {
        b.iter(|| {
            // Card: the ARQC in the first GENERATE AC, under its own key.
            let arqc = crypto::arqc_cvn10(&card_mk, black_box(&input));
            // Terminal: PIN block under the TPK and the request MAC.
            let block = crypto::pin_block_iso0(&tpk, pin, pan).expect("pin");
            let mut req = request.clone();
            let wire = encode_with_mac(&spec, &mut req, &tak).expect("mac");
            // Host: request MAC, ICC key, ARQC, PIN + PVV, CVV, ARPC, response MAC.
            let mac_ok = verify_mac(&spec, &wire, &req, &tak);
            let mk = crypto::derive_icc_master_key(&imk, pan, "00").expect("mk");
            let arqc_ok = crypto::verify_arqc_cvn10(&mk, &input, &arqc);
            let clear = crypto::decode_pin_block_iso0(&tpk, block, pan).expect("pin");
            let pvv = crypto::pvv(&pvk, pan, "1", &clear).expect("pvv");
            let cvv = crypto::cvv(&cvk, pan, "3306", "201").expect("cvv");
            let arpc = crypto::arpc_method1(&mk, arqc, ResponseCode::Approved.arc());
            let mut resp = response.clone();
            let resp_wire = encode_with_mac(&spec, &mut resp, &tak).expect("mac");
            black_box((mac_ok, arqc_ok, pvv, cvv, arpc, resp_wire.len(), wire.len()))
        })
    });

    c.bench_function("crypto/retail MAC over the 342-byte 0200", |b| {
        b.iter(|| crypto::retail_mac(&tak, black_box(&req_wire[..342]), MacPadding::Method1))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(std::time::Duration::from_secs(3)).warm_up_time(std::time::Duration::from_secs(1));
    targets = iso8583, des_block, purchase_bundle
}
criterion_main!(benches);
