import { App as AntApp, ConfigProvider } from 'antd';
import enGB from 'antd/locale/en_GB';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { RouterProvider } from './router';
import { SessionProvider } from './session';
import './styles.css';

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <ConfigProvider
      locale={enGB}
      theme={{
        token: { colorPrimary: '#1668dc', borderRadius: 6 },
        components: { Layout: { headerBg: '#ffffff', headerPadding: '0 24px', bodyBg: '#f5f6f8' } },
      }}
    >
      <AntApp>
        <RouterProvider>
          <SessionProvider>
            <App />
          </SessionProvider>
        </RouterProvider>
      </AntApp>
    </ConfigProvider>
  </StrictMode>,
);
