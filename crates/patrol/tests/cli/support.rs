use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_patrol"))
}

/// A `patrol dev` process on a free port, stopped on drop.
pub struct DevServer {
    pub child: Child,
    pub base: String,
    pub data_dir: PathBuf,
    pub stderr_path: PathBuf,
}

impl DevServer {
    pub fn start(data_dir: &Path, envs: &[(&str, &str)]) -> DevServer {
        let info = data_dir.join("dev-server.json");
        let _ = std::fs::remove_file(&info);
        std::fs::create_dir_all(data_dir).unwrap();
        let stderr_path = data_dir.join(format!("stderr-{}.log", std::process::id()));
        let stderr = std::fs::File::create(&stderr_path).unwrap();
        let mut cmd = Command::new(bin());
        cmd.args(["dev", "--port", "0", "--data-dir"])
            .arg(data_dir)
            .stdout(Stdio::null())
            .stderr(stderr)
            .env_remove("PATROL_DATA_DIR");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut server = DevServer {
            child: cmd.spawn().unwrap(),
            base: String::new(),
            data_dir: data_dir.to_owned(),
            stderr_path,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(text) = std::fs::read_to_string(&info) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
                    server.base = v["base_url"].as_str().unwrap().to_owned();
                    return server;
                }
            }
            assert!(Instant::now() < deadline, "patrol dev did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn token(&self, args: &[&str]) -> String {
        let out = Command::new(bin())
            .args(["dev", "token"])
            .args(args)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .env_remove("PATROL_DATA_DIR")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "dev token failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    pub fn stop(&mut self) {
        #[cfg(unix)]
        {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(self.child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}
