//! A whole `Cores` runtime's life leaves no fd open: each loop's epoll and
//! eventfd, the coordinator's loop and its signal pipe, all closed. In a
//! test binary of its own, so that nothing else opens fds meanwhile.

use corio_executor::{Cores, channel};

#[test]
fn a_runtime_leaves_no_fd_open() {
    let before = testkit::open_fds();
    for _ in 0..3 {
        let got = Cores::new()
            .count(4)
            .run(|core| async move {
                let (tx, mut rx) = channel::<usize>(1);
                tx.send(core.index()).await.unwrap();
                rx.recv().await
            })
            .unwrap();
        assert_eq!(got, [Some(0), Some(1), Some(2), Some(3)]);
        assert_eq!(testkit::open_fds(), before, "a runtime left fds open");
    }
}
