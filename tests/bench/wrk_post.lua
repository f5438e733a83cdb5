-- wrk script: POST the body rapport sends for one SMS (JSON format).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"to":"+8613800000000","from":"+15550000000","text":"李娜，生日快乐！祝您身体健康，万事如意。——Acme 客户关怀","idempotency_key":"birthday:sms:1:2027"}'
